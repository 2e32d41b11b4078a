//! The migrations: every one runs up, down and up again, and instances migrating at the
//! same time apply them once.

use billing_impl::db::{self, migrations::MIGRATIONS};
use billing_test_support as common;
use common::TestDb;
use diesel_migrations::MigrationHarness;

#[test]
fn every_migration_runs_up_down_and_up_again() {
    let database = TestDb::empty();
    let mut conn = database.connect();
    let applied = conn.run_pending_migrations(MIGRATIONS).expect("up").len();
    assert!(applied >= 2);
    let reverted = conn.revert_all_migrations(MIGRATIONS).expect("down").len();
    assert_eq!(reverted, applied);
    assert_eq!(
        conn.run_pending_migrations(MIGRATIONS)
            .expect("up again")
            .len(),
        applied
    );
    assert!(db::is_migrated(&mut conn).expect("check"));
}

#[test]
fn instances_migrating_together_apply_each_migration_once() {
    let database = TestDb::empty();
    let runs: Vec<usize> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| db::migrate(&database.url).expect("migrate")))
            .collect();
        handles
            .into_iter()
            .map(|handle| handle.join().expect("thread"))
            .collect()
    });
    assert_eq!(
        runs.iter().filter(|applied| **applied > 0).count(),
        1,
        "{runs:?}"
    );
    assert!(db::is_migrated(&mut database.connect()).expect("check"));
}
