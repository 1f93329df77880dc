//! The write-ahead log on real failing storage, made by the test as root:
//!
//! - a full file system: a small ext4 image, loop-mounted, filled up;
//! - a device that fails writes: ext4 on a loop device whose backing file
//!   lives on a small tmpfs; the blocks under the log's active segment are
//!   punched out of the backing file and the tmpfs is filled, so the loop
//!   device cannot store the next write there and fails it (the kernel logs
//!   "critical space allocation error"), exactly as a thin-provisioned disk
//!   that ran out does. (This machine has no device-mapper and no kernel
//!   fault injection; this is the real block layer failing the write.)
//!
//! In both the log must fail with an error naming the cause, never report
//! an unwritten record durable, not panic, and recover by itself once space
//! is back, with every record it called durable still there after a
//! restart. Needs root, losetup, mount and mkfs.ext4: under CI=true a test
//! that cannot set this up fails; elsewhere it says it skipped.

mod wal_support;

use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use pinwheel_runtime::wal::{Lsn, Wal, WalError, WalOptions};
use wal_support::*;

const SEGMENT_BYTES: u64 = 1024 * 1024;

/// These tests spawn commands (mkfs, mount, chattr) while data
/// directories are opened and closed, and a forked child holds copies of
/// this process's lock descriptors until it execs: one test at a time.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A file system on a loop device, torn down when dropped.
struct LoopFs {
    scratch: Scratch,
    mount: PathBuf,
    device: String,
    /// The tmpfs holding the image, if any.
    backing: Option<PathBuf>,
    image: PathBuf,
}

fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .map_err(|e| format!("{cmd}: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "{cmd} {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl LoopFs {
    /// An ext4 of `image_mib` MiB, its image on the main disk or (with
    /// `tmpfs_mib`) on a tmpfs of that size. `None` (after `cannot_run`)
    /// when this machine cannot do it.
    fn ext4(name: &str, image_mib: u64, tmpfs_mib: Option<u64>) -> Option<LoopFs> {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            cannot_run("needs root to make a loop-mounted file system");
            return None;
        }
        match LoopFs::make(name, image_mib, tmpfs_mib) {
            Ok(fs) => Some(fs),
            Err(e) => {
                cannot_run(&format!("could not make a loop-mounted ext4: {e}"));
                None
            }
        }
    }

    fn make(name: &str, image_mib: u64, tmpfs_mib: Option<u64>) -> Result<LoopFs, String> {
        let scratch = Scratch::new(name, None);
        let mount = scratch.path().join("mnt");
        std::fs::create_dir_all(&mount).map_err(|e| e.to_string())?;
        let mut fs = LoopFs {
            image: scratch.path().join("image"),
            scratch,
            mount,
            device: String::new(),
            backing: None,
        };
        if let Some(mib) = tmpfs_mib {
            let back = fs.scratch.path().join("back");
            std::fs::create_dir_all(&back).map_err(|e| e.to_string())?;
            run(
                "mount",
                &[
                    "-t",
                    "tmpfs",
                    "-o",
                    &format!("size={mib}m"),
                    "tmpfs",
                    path(&back),
                ],
            )?;
            fs.image = back.join("image");
            fs.backing = Some(back);
        }
        std::fs::File::create(&fs.image)
            .and_then(|f| f.set_len(image_mib << 20))
            .map_err(|e| e.to_string())?;
        let image = path(&fs.image).to_string();
        run(
            "mkfs.ext4",
            &[
                "-q",
                "-F",
                "-m",
                "0",
                "-b",
                "4096",
                "-E",
                "lazy_itable_init=0,lazy_journal_init=0",
                &image,
            ],
        )?;
        fs.device = run("losetup", &["-f", "--show", &image])?;
        run("mount", &[&fs.device, path(&fs.mount)])?;
        Ok(fs)
    }

    fn data_dir(&self) -> PathBuf {
        self.mount.join("data")
    }
}

impl Drop for LoopFs {
    fn drop(&mut self) {
        if let Err(e) = run("umount", &[path(&self.mount)]) {
            // Something still holds a file there: detach it anyway, say so.
            eprintln!("teardown: {e}; unmounting lazily");
            let _ = run("umount", &["-l", path(&self.mount)]);
        }
        if !self.device.is_empty() {
            let _ = run("losetup", &["-d", &self.device]);
        }
        if let Some(back) = &self.backing {
            let _ = run("umount", &[path(back)]);
        }
    }
}

fn path(p: &Path) -> &str {
    p.to_str().expect("utf-8 test paths")
}

/// Bytes free on the file system of `dir`.
fn free_bytes(dir: &Path) -> u64 {
    let c = std::ffi::CString::new(path(dir)).unwrap();
    // SAFETY: statvfs writes into the zeroed struct we pass.
    let mut s: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut s) }, 0);
    s.f_bavail * s.f_bsize
}

/// Allocates a filler file leaving about `leave` bytes free on `dir`'s
/// file system; returns its path.
fn fill_up(dir: &Path, leave: u64) -> PathBuf {
    let filler = dir.join("filler");
    let file = std::fs::File::create(&filler).unwrap();
    let mut want = free_bytes(dir).saturating_sub(leave);
    // SAFETY: fallocate on a descriptor we own.
    while want > 0 && unsafe { libc::fallocate(file.as_raw_fd(), 0, 0, want as i64) } != 0 {
        want -= want / 16 + 4096; // a little less: metadata takes some
    }
    file.sync_all().unwrap();
    filler
}

/// Appends 4 KiB records one by one, waiting for each, until one fails;
/// returns the records called durable and the error.
async fn append_until_failure(wal: &Wal, first_slot: u64, limit: u64) -> (Vec<Owned>, WalError) {
    let mut durable = Vec::new();
    for slot in first_slot..first_slot + limit {
        let record = Owned::entry(1, slot, 4096);
        let result = match wal.append(&record.record()) {
            Ok(lsn) => wal.durable(lsn).await,
            Err(e) => Err(e),
        };
        match result {
            Ok(()) => durable.push(record),
            Err(e) => return (durable, e),
        }
    }
    panic!("{limit} appends of 4 KiB never failed");
}

/// Polls until an append is accepted again and made durable.
async fn append_when_healthy(wal: &Wal, record: &Owned) -> Lsn {
    let start = Instant::now();
    loop {
        assert!(
            start.elapsed() < DEADLINE,
            "the log never recovered: {:?}",
            wal.stats().failed
        );
        if let Ok(lsn) = wal.append(&record.record()) {
            if wal.durable(lsn).await.is_ok() {
                return lsn;
            }
        }
        glommio::timer::sleep(Duration::from_millis(20)).await;
    }
}

/// Every record called durable must be recovered, in order.
fn assert_recovered_in_order(recovered: &[Owned], durable: &[Owned]) {
    let mut next = recovered.iter();
    for record in durable {
        assert!(
            next.any(|r| r == record),
            "durable record slot {} lost",
            record.slot
        );
    }
}

fn options() -> WalOptions {
    WalOptions {
        segment_bytes: SEGMENT_BYTES,
        retry_interval_ms: 50,
        ..WalOptions::default()
    }
}

#[test]
fn a_full_disk_fails_appends_and_they_resume_when_space_is_freed() {
    let _serial = serial();
    let Some(fs) = LoopFs::ext4("wal-full", 24, None) else {
        return;
    };
    let dir = fs.data_dir();
    let mount = fs.mount.clone();
    on_executor(move || async move {
        let (data, wal, _) = open(&dir, options()).await;
        let spare = data.core_dir(0).join(pinwheel_wal::segment_file_name(2));
        poll_until("the spare segment", || spare.exists()).await;
        let filler = fill_up(&mount, SEGMENT_BYTES / 4);

        let (mut durable, err) = append_until_failure(&wal, 0, 4096).await;
        assert!(
            durable.len() > 200,
            "the two ready segments held records: {}",
            durable.len()
        );
        assert_eq!(
            err.io_kind(),
            Some(std::io::ErrorKind::StorageFull),
            "{err}"
        );
        assert!(
            err.to_string().contains("preallocating segment")
                && err.to_string().contains("wal-00000000000000000003.seg"),
            "{err}"
        );
        assert!(matches!(
            wal.append(&Owned::entry(1, 99_999, 10).record()),
            Err(WalError::Failed(_))
        ));
        let failed = wal.stats();
        assert!(failed.failed.is_some() && failed.durable <= wal.end());

        std::fs::remove_file(&filler).unwrap();
        let after = Owned::entry(2, 0, 4096);
        append_when_healthy(&wal, &after).await;
        durable.push(after);
        for slot in 1..50 {
            let record = Owned::entry(2, slot, 4096);
            wal.durable(wal.append(&record.record()).unwrap())
                .await
                .unwrap();
            durable.push(record);
        }
        wal.close().await.unwrap();
        drop((wal, data));

        let (_data, wal, recovery) = open(&dir, options()).await;
        let got: Vec<_> = recovered(&recovery).into_iter().map(|(_, r)| r).collect();
        assert_recovered_in_order(&got, &durable);
        wal.close().await.unwrap();
    });
    drop(fs);
}

#[test]
fn a_device_that_fails_writes_fails_the_log_until_it_recovers() {
    let _serial = serial();
    let Some(fs) = LoopFs::ext4("wal-eio", 32, Some(20)) else {
        return;
    };
    let dir = fs.data_dir();
    let (image, back) = (fs.image.clone(), fs.backing.clone().unwrap());
    on_executor(move || async move {
        let (data, wal, _) = open(&dir, options()).await;
        let spare = data.core_dir(0).join(pinwheel_wal::segment_file_name(2));
        poll_until("the spare segment", || spare.exists()).await;
        let mut durable = Vec::new();
        for slot in 0..4 {
            let record = Owned::entry(1, slot, 100);
            wal.durable(wal.append(&record.record()).unwrap())
                .await
                .unwrap();
            durable.push(record);
        }
        let active = data.core_dir(0).join(pinwheel_wal::segment_file_name(1));
        punch_under(&active, &image, wal.end().offset);
        let filler = fill_up(&back, 0);

        let (more, err) = append_until_failure(&wal, 100, 64).await;
        durable.extend(more);
        let WalError::Failed(cause) = &err else {
            panic!("{err}")
        };
        eprintln!("the device failed the write: {err}");
        assert_eq!(
            (cause.op, cause.path.as_path()),
            ("writing", active.as_path()),
            "{err}"
        );
        assert!(matches!(
            wal.append(&Owned::entry(1, 999, 10).record()),
            Err(WalError::Failed(_))
        ));

        std::fs::remove_file(&filler).unwrap();
        let after = Owned::entry(2, 0, 4096);
        append_when_healthy(&wal, &after).await;
        durable.push(after);
        wal.close().await.unwrap();
        drop((wal, data));

        let (_data, wal, recovery) = open(&dir, options()).await;
        assert_eq!(recovery.report.cut, None);
        let got: Vec<_> = recovered(&recovery).into_iter().map(|(_, r)| r).collect();
        assert_recovered_in_order(&got, &durable);
        wal.close().await.unwrap();
    });
    drop(fs);
}

/// Punches the blocks of `file` after its first block past `from` out of
/// the loop device's backing `image`.
fn punch_under(file: &Path, image: &Path, from: u64) {
    let keep = from.div_ceil(4096) * 4096 + 4096;
    let image = std::fs::OpenOptions::new().write(true).open(image).unwrap();
    let mut punched = 0;
    for (logical, physical, length) in extents(file) {
        let end = logical + length;
        if end <= keep {
            continue;
        }
        let skip = keep.saturating_sub(logical);
        let (at, len) = (physical + skip, length - skip);
        let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
        // SAFETY: fallocate on a descriptor we own.
        assert_eq!(
            unsafe { libc::fallocate(image.as_raw_fd(), mode, at as i64, len as i64) },
            0
        );
        punched += len;
    }
    assert!(punched > 0, "nothing punched under {}", file.display());
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct FiemapExtent {
    logical: u64,
    physical: u64,
    length: u64,
    reserved64: [u64; 2],
    flags: u32,
    reserved: [u32; 3],
}

#[repr(C)]
struct Fiemap {
    start: u64,
    length: u64,
    flags: u32,
    mapped_extents: u32,
    extent_count: u32,
    reserved: u32,
    extents: [FiemapExtent; 64],
}

/// `(logical, physical, length)` of each extent of `file` (FS_IOC_FIEMAP).
fn extents(file: &Path) -> Vec<(u64, u64, u64)> {
    const FS_IOC_FIEMAP: libc::c_ulong = 0xC020_660B;
    const FIEMAP_FLAG_SYNC: u32 = 1;
    let f = std::fs::File::open(file).unwrap();
    let mut map = Fiemap {
        start: 0,
        length: u64::MAX,
        flags: FIEMAP_FLAG_SYNC,
        mapped_extents: 0,
        extent_count: 64,
        reserved: 0,
        extents: [FiemapExtent::default(); 64],
    };
    // SAFETY: the struct matches the kernel's struct fiemap with room for 64 extents.
    assert_eq!(
        unsafe { libc::ioctl(f.as_raw_fd(), FS_IOC_FIEMAP, &mut map) },
        0
    );
    map.extents[..map.mapped_extents as usize]
        .iter()
        .map(|e| (e.logical, e.physical, e.length))
        .collect()
}

/// Clears the immutable flag of a directory when dropped.
struct Immutable(PathBuf);

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = run("chattr", &["-i", path(&self.0)]);
    }
}

#[test]
fn permission_errors_name_the_path() {
    let _serial = serial();
    // Root passes every mode check, so the refusal comes from the
    // immutable attribute (EPERM), which binds root too.
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return cannot_run("needs root to set the immutable attribute");
    }
    let scratch = Scratch::new("wal-perm", None);
    let locked = scratch.path().join("locked");
    std::fs::create_dir_all(&locked).unwrap();
    if let Err(e) = run("chattr", &["+i", path(&locked)]) {
        return cannot_run(&format!("chattr +i failed: {e}"));
    }
    let guard = Immutable(locked.clone());
    let err = pinwheel_runtime::wal::DataDir::open(locked.join("data")).unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains(&locked.join("data").display().to_string()),
        "{message}"
    );
    assert!(message.contains("Operation not permitted"), "{message}");
    drop(guard);

    // A data directory that became read-only before its core's log existed.
    let data = pinwheel_runtime::wal::DataDir::open(&locked).unwrap();
    run("chattr", &["+i", path(&locked)]).unwrap();
    let _guard = Immutable(locked.clone());
    let err = on_executor(move || async move {
        Wal::open(&data, 0, WalOptions::default())
            .await
            .err()
            .expect("an immutable data dir refused")
    });
    let message = err.to_string();
    assert!(
        message.contains("creating log directory") && message.contains("core-0"),
        "{message}"
    );
}
