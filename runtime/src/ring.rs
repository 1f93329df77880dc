//! The consistent-hash ring: key → shard group, and shard group → core.
//!
//! The ring is part of the cluster's contract: every process on every
//! machine must map a key to the same group. So the hash is CRC-32C (a
//! specified function, the same on every CPU and every build) finished with
//! a 64-bit mixer, not a hasher whose output may change with CPU features or
//! crate versions. A test pins known key → group answers.

/// Virtual nodes per group: enough points that groups own near-equal arcs
/// (about ±10% at 128 points each).
pub const VIRTUAL_NODES_PER_GROUP: u32 = 128;
/// Most groups a node may have.
pub const GROUPS_MAX: u32 = 4096;

/// Maps keys to shard groups through a ring of virtual nodes.
#[derive(Debug, Clone)]
pub struct HashRing {
    /// Ring points sorted by position, each naming the group that owns the
    /// arc ending at it.
    points: Vec<(u64, u32)>,
    /// For each of the `2^BUCKET_BITS` equal slices of the ring, the index
    /// of the first point at or after the slice's start, so a lookup
    /// searches a handful of points instead of the whole ring.
    bucket_first: Vec<u32>,
    groups: u32,
}

/// The ring is cut into `2^BUCKET_BITS` slices for lookups: with 128
/// points per group, a slice holds about `groups / 512` points.
const BUCKET_BITS: u32 = 16;

impl HashRing {
    /// A ring of `groups` groups. Panics on 0 or more than [`GROUPS_MAX`]
    /// (configuration is validated before it gets here).
    pub fn new(groups: u32) -> HashRing {
        assert!((1..=GROUPS_MAX).contains(&groups), "groups out of range");
        let mut points = Vec::with_capacity((groups * VIRTUAL_NODES_PER_GROUP) as usize);
        for group in 0..groups {
            for vnode in 0..VIRTUAL_NODES_PER_GROUP {
                let label = format!("group-{group}-vnode-{vnode}");
                points.push((point(label.as_bytes()), group));
            }
        }
        points.sort_unstable();
        let bucket_first = (0..1u64 << BUCKET_BITS)
            .map(|bucket| {
                let start = bucket << (64 - BUCKET_BITS);
                points.partition_point(|&(p, _)| p < start) as u32
            })
            .collect();
        HashRing {
            points,
            bucket_first,
            groups,
        }
    }

    /// How many groups the ring has.
    pub fn groups(&self) -> u32 {
        self.groups
    }

    /// The group that owns `key`. A key with a hash tag (`user:{42}:name`)
    /// is placed by the tag alone, so keys sharing a tag share a group, as
    /// in Redis Cluster.
    pub fn group_of(&self, key: &[u8]) -> u32 {
        let position = point(hash_tag(key));
        let bucket = (position >> (64 - BUCKET_BITS)) as usize;
        let first = self.bucket_first[bucket] as usize;
        let end = self
            .bucket_first
            .get(bucket + 1)
            .map_or(self.points.len(), |&next| next as usize);
        // The answer is the first point at or after `position`: inside this
        // slice, or else the first point of a later slice, which is `end`.
        let index = first + self.points[first..end].partition_point(|&(p, _)| p < position);
        // Past the last point the ring wraps to the first (a branch, not a
        // division: this runs for every command).
        self.points.get(index).unwrap_or(&self.points[0]).1
    }
}

/// The part of a key that decides its placement: the text between the
/// first `{` and the next `}` when that is not empty, else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = key.iter().position(|&b| b == b'{') {
        if let Some(len) = key[open + 1..].iter().position(|&b| b == b'}') {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// A ring position: CRC-32C spread over 64 bits by the SplitMix64 finaliser.
fn point(bytes: &[u8]) -> u64 {
    let mut z = u64::from(crc32c::crc32c(bytes)) ^ ((bytes.len() as u64) << 32);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Which core owns a group: groups are dealt round-robin, so every core
/// owns `groups / cores` of them, give or take one.
pub fn core_of(group: u32, cores: usize) -> usize {
    group as usize % cores
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placement_is_pinned() {
        // These answers are part of the cluster contract: if this test
        // fails, nodes built from different versions would disagree.
        let ring = HashRing::new(64);
        let got: Vec<u32> = ["a", "b", "user:1", "lock:orders", ""]
            .iter()
            .map(|k| ring.group_of(k.as_bytes()))
            .collect();
        assert_eq!(got, PINNED_64);
    }

    const PINNED_64: [u32; 5] = [59, 6, 3, 49, 34];

    #[test]
    fn bucketed_lookup_agrees_with_a_search_of_the_whole_ring() {
        for groups in [1, 3, 64, GROUPS_MAX] {
            let ring = HashRing::new(groups);
            for n in 0..20_000u32 {
                let key = format!("key:{n}");
                let position = point(key.as_bytes());
                let index = ring.points.partition_point(|&(p, _)| p < position);
                let expected = ring.points[index % ring.points.len()].1;
                assert_eq!(ring.group_of(key.as_bytes()), expected, "{key} of {groups}");
            }
        }
    }

    #[test]
    fn hash_tags_share_a_group() {
        let ring = HashRing::new(64);
        assert_eq!(hash_tag(b"x{user}y"), b"user");
        assert_eq!(hash_tag(b"x{}y"), b"x{}y");
        assert_eq!(hash_tag(b"x{y"), b"x{y");
        assert_eq!(ring.group_of(b"{u1}:a"), ring.group_of(b"{u1}:b"));
    }

    #[test]
    fn groups_get_near_equal_shares() {
        let groups = 16;
        let ring = HashRing::new(groups);
        let mut counts = vec![0u32; groups as usize];
        let keys = 160_000;
        for i in 0..keys {
            counts[ring.group_of(format!("key:{i}").as_bytes()) as usize] += 1;
        }
        let mean = keys / groups;
        for (group, &count) in counts.iter().enumerate() {
            let deviation = (count as f64 - mean as f64).abs() / mean as f64;
            assert!(
                deviation < 0.25,
                "group {group} holds {count} of {keys} keys"
            );
        }
    }

    #[test]
    fn cores_own_groups_round_robin() {
        assert_eq!(core_of(0, 2), 0);
        assert_eq!(core_of(5, 2), 1);
        assert_eq!(core_of(5, 1), 0);
    }
}
