//! Group commit: concurrent writes share one SQLite transaction, so a burst
//! of posts costs one `fsync` instead of one each.
//!
//! A committer thread takes every write waiting when it is free (up to
//! [`MAX_GROUP`]), runs each in its own savepoint inside one `BEGIN
//! IMMEDIATE` transaction, commits once, and only then answers each writer.
//! So "answered Ok" still means "durable", a write that fails (an unknown
//! author, a reused idempotency key) rolls back alone and gets its own
//! error, and writes of one group see each other in order, as serial
//! transactions would: uniqueness and idempotency rules hold unchanged.
//! There is no timer: while one group commits, the next one gathers.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc as std_mpsc;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::db::{backend, write_transaction, Db};
use hashtag_core::ports::StoreError;

/// Most writes in one transaction: bounds how long one commit holds the
/// writer and how much one failed commit fails.
pub const MAX_GROUP: usize = 512;

/// One write: runs inside its savepoint; an error rolls back only it.
pub type Write<T> = Box<dyn FnOnce(&Connection) -> Result<T, StoreError> + Send>;

struct Job<T> {
    write: Write<T>,
    answer: oneshot::Sender<Result<T, StoreError>>,
}

/// Hands writes to the committer thread of one database; the thread ends
/// when the last handle is dropped.
pub struct GroupCommit<T> {
    jobs: std_mpsc::Sender<Job<T>>,
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Starts the committer on `db`'s writer connection; `committed` runs
    /// after each commit in which a write succeeded (to wake readers).
    pub fn start(db: Db, committed: impl Fn() + Send + 'static) -> Result<Self, StoreError> {
        let (jobs, queue) = std_mpsc::channel::<Job<T>>();
        std::thread::Builder::new()
            .name("group-commit".into())
            .spawn(move || {
                while let Ok(first) = queue.recv() {
                    let mut group = vec![first];
                    group.extend(queue.try_iter().take(MAX_GROUP - 1));
                    // A panic here (in SQLite's commit, say) fails this
                    // group's writers, whose answers are dropped, but not
                    // the ones after: the committer carries on.
                    let _ = catch_unwind(AssertUnwindSafe(|| {
                        if commit_group(&db, group) {
                            committed();
                        }
                    }));
                }
            })
            .map_err(|e| StoreError::Backend(format!("cannot start the committer: {e}")))?;
        Ok(GroupCommit { jobs })
    }

    /// Runs `write` in the next group; returns once its group is committed.
    pub async fn write(&self, write: Write<T>) -> Result<T, StoreError> {
        let (answer, answered) = oneshot::channel();
        self.jobs
            .send(Job { write, answer })
            .map_err(|_| StoreError::Backend("the committer has stopped".into()))?;
        answered
            .await
            .map_err(|_| StoreError::Backend("the committer stopped before answering".into()))?
    }
}

/// Runs and commits one group, then answers its writers; whether any write
/// was committed.
fn commit_group<T>(db: &Db, group: Vec<Job<T>>) -> bool {
    let (writes, answers): (Vec<_>, Vec<_>) =
        group.into_iter().map(|j| (j.write, j.answer)).unzip();
    let outcome = db.write_blocking(|conn| -> Result<Vec<_>, StoreError> {
        let mut tx = write_transaction(conn)?;
        let mut results = Vec::with_capacity(writes.len());
        for write in writes {
            let savepoint = tx.savepoint().map_err(backend)?;
            // A panicking write fails alone; the committer carries on.
            let result =
                catch_unwind(AssertUnwindSafe(|| write(&savepoint))).unwrap_or_else(|_| {
                    Err(StoreError::Backend(
                        "a write panicked; it was rolled back".into(),
                    ))
                });
            match &result {
                Ok(_) => savepoint.commit().map_err(backend)?,
                // Some errors (a full disk, an I/O error) roll back the
                // whole transaction, not just the savepoint: then nothing
                // of the group may be answered as stored.
                Err(e) if savepoint.is_autocommit() => {
                    return Err(StoreError::Backend(format!(
                        "the group's transaction was rolled back: {e}"
                    )))
                }
                Err(_) => {} // dropped: rolled back to the savepoint.
            }
            results.push(result);
        }
        tx.commit().map_err(backend)?;
        Ok(results)
    });
    match outcome {
        Ok(results) => {
            let any = results.iter().any(Result::is_ok);
            for (answer, result) in answers.into_iter().zip(results) {
                let _ = answer.send(result);
            }
            any
        }
        Err(e) => {
            for answer in answers {
                let _ = answer.send(Err(e.clone()));
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Durability;
    use std::path::Path;

    fn insert(n: i64, then_fail: bool) -> Write<i64> {
        Box::new(move |conn| {
            conn.execute("INSERT INTO t (n) VALUES (?1)", [n])
                .map_err(backend)?;
            if then_fail {
                return Err(StoreError::Conflict(format!("{n} refused")));
            }
            Ok(n)
        })
    }

    /// A database in memory with one table `t (n)`.
    fn table_t() -> Db {
        Db::open(
            Path::new(":memory:"),
            Durability::Normal,
            "CREATE TABLE t (n INTEGER PRIMARY KEY)",
        )
        .unwrap()
    }

    /// A group's jobs, and where each writer's answer arrives.
    type Answered = oneshot::Receiver<Result<i64, StoreError>>;
    fn jobs_of(writes: Vec<Write<i64>>) -> (Vec<Job<i64>>, Vec<Answered>) {
        writes
            .into_iter()
            .map(|write| {
                let (answer, answered) = oneshot::channel();
                (Job { write, answer }, answered)
            })
            .unzip()
    }

    #[test]
    fn a_failed_write_rolls_back_alone_and_every_writer_gets_its_answer() {
        let db = table_t();
        let panics: Write<i64> = Box::new(|conn| {
            conn.execute("INSERT INTO t (n) VALUES (4)", []).unwrap();
            panic!("a bug in one write");
        });
        let writes = vec![insert(1, false), insert(2, true), panics, insert(3, false)];
        let (jobs, answers) = jobs_of(writes);
        assert!(commit_group(&db, jobs));
        let answers: Vec<_> = answers
            .into_iter()
            .map(|mut a| a.try_recv().unwrap())
            .collect();
        assert_eq!(answers[0], Ok(1));
        assert_eq!(answers[1], Err(StoreError::Conflict("2 refused".into())));
        assert!(matches!(answers[2], Err(StoreError::Backend(_))));
        assert_eq!(answers[3], Ok(3));
        let stored: Vec<i64> = db.write_blocking(|conn| {
            let mut s = conn.prepare("SELECT n FROM t ORDER BY n").unwrap();
            let rows = s.query_map([], |r| r.get(0)).unwrap();
            rows.map(Result::unwrap).collect()
        });
        assert_eq!(
            stored,
            vec![1, 3],
            "the failed and the panicked writes left nothing"
        );
    }

    #[test]
    fn a_write_that_aborts_the_transaction_fails_its_whole_group() {
        let db = table_t();
        // What a full disk or an I/O error does: the whole transaction goes.
        let aborts: Write<i64> = Box::new(|conn| {
            conn.execute_batch("ROLLBACK").map_err(backend)?;
            Err(StoreError::Backend("disk full".into()))
        });
        let writes = vec![insert(1, false), aborts, insert(3, false)];
        let (jobs, answers) = jobs_of(writes);
        assert!(!commit_group(&db, jobs));
        for mut answer in answers {
            assert!(matches!(
                answer.try_recv().unwrap(),
                Err(StoreError::Backend(_))
            ));
        }
        let stored: i64 = db.write_blocking(|conn| {
            conn.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))
                .unwrap()
        });
        assert_eq!(stored, 0, "nothing of the group was stored");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn concurrent_writes_are_answered_after_their_commit() {
        let dir = std::env::temp_dir().join(format!(
            "hashtag-group-commit-{}-{}",
            std::process::id(),
            hashtag_core::domain::now_ms()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let db = Db::open(
            &dir.join("t.db"),
            Durability::Full,
            "CREATE TABLE t (n INTEGER PRIMARY KEY)",
        )
        .unwrap();
        let group = std::sync::Arc::new(GroupCommit::start(db.clone(), || {}).unwrap());
        let writers = (0..200).map(|n| {
            let (group, db) = (group.clone(), db.clone());
            tokio::spawn(async move {
                let answer = group.write(insert(n, n % 10 == 0)).await;
                // The reader connection sees only committed rows: an answer
                // given before the commit would find its row missing.
                let seen: i64 = db
                    .read(move |conn| {
                        conn.query_row("SELECT COUNT(*) FROM t WHERE n = ?1", [n], |r| r.get(0))
                            .map_err(backend)
                    })
                    .await
                    .unwrap();
                (answer, seen)
            })
        });
        let mut stored = 0;
        for writer in writers {
            let (answer, seen) = writer.await.unwrap();
            match answer {
                Ok(n) => {
                    assert_eq!(seen, 1, "write {n} answered before its commit");
                    stored += 1;
                }
                Err(e) => {
                    assert!(matches!(e, StoreError::Conflict(_)), "{e:?}");
                    assert_eq!(seen, 0, "a failed write left its row");
                }
            }
        }
        assert_eq!(stored, 180);
        drop((group, db));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
