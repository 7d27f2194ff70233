//! `consort import quartz`: real Quartz 2.5.2 (rigs/quartz-cluster, Maven Central) populates
//! its JDBC tables in a throwaway PostgreSQL; the import must recreate the same jobs and
//! triggers, continuing from Quartz's own next fire times.

mod common;

use consort_scheduler::{JobKey, MisfireInstruction, Schedule, TriggerKey, TriggerState, fire};
use consort_store::{QuartzImportOptions, import_quartz};

#[tokio::test]
async fn imports_what_real_quartz_stored() {
    let pg = common::Pg::start();
    let url = pg.fresh_db().await;
    let jdbc = common::quartz_jdbc(&pg, &url);
    common::run_quartz_rig(&["schema", &jdbc]);
    common::run_quartz_rig(&["sample", &jdbc]);

    // What Quartz computed, to compare with.
    let client = common::pg_client(&url).await;
    let quartz_next: std::collections::HashMap<String, i64> = client
        .query("SELECT trigger_name, next_fire_time FROM qrtz_triggers", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();

    let target = consort_store::open("sqlite::memory:").await.unwrap();
    let report = import_quartz(&url, target.as_ref(), &QuartzImportOptions::new("noop"), 0).await.unwrap();
    assert_eq!((report.scheduler_name.as_str(), report.jobs, report.triggers), ("consort-bench", 2, 5));
    assert!(report.warnings.is_empty(), "{:?}", report.warnings);

    let report_job = target.get_job(&JobKey::new("finance", "report").unwrap()).await.unwrap().unwrap().job;
    assert_eq!(report_job.description(), Some("nightly report"));
    assert!(report_job.durable() && report_job.requests_recovery() && !report_job.non_concurrent());
    assert_eq!(report_job.data()["region"], "emea");
    assert_eq!(report_job.data()["retries"], "3");
    assert_eq!(report_job.data()["quartz.job_class"], "consort.rigs.QuartzCluster$NoopJob");
    let serial = target.get_job(&JobKey::new("ops", "serial").unwrap()).await.unwrap().unwrap().job;
    assert!(serial.non_concurrent() && !serial.durable(), "@DisallowConcurrentExecution carried over");

    let nightly = target.get_trigger(&TriggerKey::new("finance", "nightly").unwrap()).await.unwrap().unwrap();
    let Schedule::Cron { cron, zone } = nightly.trigger.schedule() else { panic!("cron expected") };
    assert_eq!((cron.as_str(), zone.name()), ("0 30 2 * * ?", "Europe/Rome"));
    assert_eq!(nightly.trigger.priority(), 7);
    assert_eq!(nightly.trigger.misfire(), MisfireInstruction::DoNothing);
    assert_eq!(nightly.trigger.description(), Some("every night at 02:30 Rome time"));
    assert_eq!(nightly.trigger.end_ms(), Some(1_893_456_000_000 + 365 * 86_400_000));
    assert_eq!(nightly.trigger.data()["format"], "pdf");
    let month_end = target.get_trigger(&TriggerKey::new("finance", "month-end").unwrap()).await.unwrap().unwrap();
    assert_eq!(month_end.trigger.misfire(), MisfireInstruction::FireOnceNow);
    let every = target.get_trigger(&TriggerKey::new("ops", "every-5-min").unwrap()).await.unwrap().unwrap();
    assert_eq!(every.trigger.schedule(), &Schedule::Simple { repeat_count: None, interval_ms: 300_000 });
    assert_eq!(every.trigger.misfire(), MisfireInstruction::DoNothing);
    let three = target.get_trigger(&TriggerKey::new("ops", "three-times").unwrap()).await.unwrap().unwrap();
    assert_eq!(three.state, TriggerState::Paused);
    assert_eq!(three.trigger.schedule(), &Schedule::Simple { repeat_count: Some(2), interval_ms: 30_000 });
    assert_eq!(three.trigger.misfire(), MisfireInstruction::Ignore);

    // Every trigger continues from Quartz's next fire time, and consort agrees with Quartz's
    // first fire computed from the start time.
    for t in target.list_triggers(&Default::default()).await.unwrap() {
        let name = t.trigger.key().name().to_string();
        assert_eq!(t.next_fire_ms, Some(quartz_next[&name]), "{name}");
        assert_eq!(fire::first_fire(&t.trigger), Some(quartz_next[&name]), "{name}");
    }

    // Importing again is refused unless replacing.
    assert!(import_quartz(&url, target.as_ref(), &QuartzImportOptions::new("noop"), 0).await.is_err());
    let replace = QuartzImportOptions { replace: true, ..QuartzImportOptions::new("noop") };
    assert_eq!(import_quartz(&url, target.as_ref(), &replace, 0).await.unwrap().triggers, 5);
    let missing = QuartzImportOptions { scheduler_name: Some("nope".into()), ..QuartzImportOptions::new("noop") };
    let err = import_quartz(&url, target.as_ref(), &missing, 0).await.unwrap_err().to_string();
    assert!(err.contains("nope"), "{err}");
}
