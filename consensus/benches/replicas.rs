//! Three replicas in memory, messages handed over directly, no I/O and no
//! encoding: how many commands per second the protocol itself commits with
//! batching, on one core.

use std::collections::VecDeque;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pinwheel_consensus::{Config, Message, ProposeError, Replica, RoleKind};

/// Commands committed per measured iteration.
const COMMANDS_PER_ITER: u64 = 64 * 1024;
/// Bytes per command: a small SET with key and value.
const COMMAND_BYTES: usize = 16;

struct Cluster {
    replicas: Vec<Replica>,
    queue: VecDeque<Message>,
    leader: usize,
    committed: u64,
    now: u64,
}

impl Cluster {
    fn new() -> Cluster {
        let replicas = (0..3u32)
            .map(|id| {
                let mut config = Config::new(id, vec![0, 1, 2], 7 + id as u64);
                config.batch_commands_max = 1024;
                config.window_slots_max = 32;
                Replica::new(config, 0).expect("valid config")
            })
            .collect();
        let mut cluster = Cluster {
            replicas,
            queue: VecDeque::new(),
            leader: 0,
            committed: 0,
            now: 0,
        };
        for _ in 0..2_000 {
            cluster.tick();
        }
        cluster.leader = (0..3)
            .find(|&i| cluster.replicas[i].status().role == RoleKind::Leader)
            .expect("a leader within 2 s");
        cluster
    }

    /// Does every replica's Ready (persistence is free here) and delivers
    /// every message, until nothing moves.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for i in 0..3 {
                let replica = &mut self.replicas[i];
                if !replica.has_ready() {
                    continue;
                }
                moved = true;
                let ready = replica.ready();
                self.queue.extend(ready.messages);
                self.queue.extend(ready.persisted_messages);
                if i == self.leader {
                    self.committed += ready
                        .committed
                        .iter()
                        .map(|c| c.entry.command_count() as u64)
                        .sum::<u64>();
                }
                replica.advance();
                if let Some(slot) = ready.snapshot_wanted {
                    replica.compact(slot, Vec::new());
                }
            }
            while let Some(message) = self.queue.pop_front() {
                moved = true;
                let to = message.to as usize;
                self.replicas[to].step(message);
            }
            if !moved {
                return;
            }
        }
    }

    fn commit(&mut self, commands: u64) {
        let target = self.committed + commands;
        let command = vec![7u8; COMMAND_BYTES];
        let mut proposed = 0;
        while proposed < commands {
            match self.replicas[self.leader].propose(command.clone()) {
                Ok(()) => proposed += 1,
                Err(ProposeError::Busy) => self.pump(),
                Err(other) => panic!("leader refused: {other}"),
            }
        }
        while self.committed < target {
            self.pump();
            // Flush the last partial batch: its delay is 1 ms.
            self.tick();
        }
    }

    /// One millisecond passes for every replica.
    fn tick(&mut self) {
        self.now += 1;
        for i in 0..3 {
            self.replicas[i].tick(self.now);
        }
        self.pump();
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("three_replicas_in_memory");
    group.throughput(Throughput::Elements(COMMANDS_PER_ITER));
    group.sample_size(20);
    let mut cluster = Cluster::new();
    group.bench_function("commit_batched_16B_commands", |b| {
        b.iter(|| cluster.commit(COMMANDS_PER_ITER))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
