//! Validation and planning of component descriptors: one test per rule, each asserting the
//! exact field path, and one with many problems at once.

use std::sync::Mutex;

use async_trait::async_trait;
use consort_cron::Cron;
use consort_provisioner::{
    App, CheckFailure, Checks, Plan, Problem, Settings, Validated, job_key, public_info, target, validate,
};
use consort_scheduler::{MisfireInstruction, Schedule};

const EXAMPLE: &str = include_str!("data/component.yaml");
const PYSPARK: &str = include_str!("data/component-pyspark.yaml");
const SPECIFIC: &str = "dataProduct.components[0].specific";
const JOB_NAME: &str = "finance-cashflow-0-spark-etl-development";
const DP_ID: &str = "urn:dmb:dp:finance:cashflow:0";

/// 2026-01-01T00:00:00Z.
const NOW: i64 = 1_767_225_600_000;
const DAY: i64 = 86_400_000;

fn settings() -> Settings {
    Settings {
        default_timezone: "UTC".into(),
        default_backend: "local".into(),
        backends: vec!["local".into(), "yarn".into()],
        next_fire_count: 3,
        job_name_rule: true,
    }
}

/// Checks that pass unless told otherwise, recording what they were asked.
#[derive(Debug, Default)]
struct FakeChecks {
    backend_down: bool,
    jar_missing: bool,
    python_missing: bool,
    calls: Mutex<Vec<String>>,
}

#[async_trait]
impl Checks for FakeChecks {
    async fn backend(&self, name: &str) -> Result<(), CheckFailure> {
        self.calls.lock().unwrap().push(format!("backend {name}"));
        if self.backend_down {
            return Err(CheckFailure::new(format!("backend `{name}` does not answer"), "start it"));
        }
        Ok(())
    }
    async fn jar(&self, uri: &str, class_name: &str) -> Result<(), CheckFailure> {
        self.calls.lock().unwrap().push(format!("jar {uri} {class_name}"));
        if self.jar_missing {
            return Err(CheckFailure::new(format!("`{uri}` does not exist"), "upload the jar"));
        }
        Ok(())
    }
    async fn python_file(&self, uri: &str) -> Result<(), CheckFailure> {
        self.calls.lock().unwrap().push(format!("python {uri}"));
        if self.python_missing {
            return Err(CheckFailure::new(format!("`{uri}` does not exist"), "upload the file"));
        }
        Ok(())
    }
}

async fn valid_with(yaml: &str, settings: &Settings) -> Validated {
    match validate(yaml, settings, &FakeChecks::default(), NOW).await {
        Ok(v) => v,
        Err(problems) => panic!("expected valid, got {problems:#?}"),
    }
}

async fn valid(yaml: &str) -> Validated {
    valid_with(yaml, &settings()).await
}

async fn problems_with(yaml: &str, checks: &FakeChecks) -> Vec<Problem> {
    match validate(yaml, &settings(), checks, NOW).await {
        Ok(_) => panic!("expected problems, the descriptor validated"),
        Err(problems) => problems,
    }
}

async fn problems(yaml: &str) -> Vec<Problem> {
    problems_with(yaml, &FakeChecks::default()).await
}

/// The only problem of `yaml`, asserting its field.
async fn only(yaml: &str, field: &str) -> Problem {
    let found = problems(yaml).await;
    assert_eq!(found.len(), 1, "expected one problem at {field}, got {found:#?}");
    assert_eq!(found[0].field, field, "{found:#?}");
    assert!(!found[0].problem.is_empty() && !found[0].fix.is_empty());
    found[0].clone()
}

fn edit(yaml: &str, from: &str, to: &str) -> String {
    assert!(yaml.contains(from), "`{from}` is not in the descriptor");
    yaml.replacen(from, to, 1)
}

fn line_of(yaml: &str, text: &str) -> u32 {
    yaml.lines().position(|l| l.contains(text)).expect("text in yaml") as u32 + 1
}

#[tokio::test]
async fn the_example_validates_into_a_plan() {
    let Validated { descriptor, plan } = valid(EXAMPLE).await;
    assert_eq!(descriptor.component_index, 0);
    assert_eq!(descriptor.data_product.id, DP_ID);
    let specific = &descriptor.component.specific;
    assert_eq!(
        specific.app,
        App::Jar {
            jar: "/opt/consort/examples/consort-examples.jar".into(),
            class_name: "consort.examples.CountRange".into()
        }
    );
    assert_eq!(specific.job_config.conf["spark.sql.shuffle.partitions"], "200");

    let Plan { job, triggers, component, backend, schedule, adopts } = plan;
    assert_eq!((job.key().group(), job.key().name()), (DP_ID, JOB_NAME));
    assert_eq!(adopts, None, "no adoptJob, nothing adopted");
    assert_eq!(job.kind(), "spark");
    assert!(job.durable() && job.non_concurrent() && job.requests_recovery());
    assert_eq!(job.description(), Some("Nightly batch that builds the cash flow tables"));
    assert_eq!(backend, "local");
    assert_eq!(component.component_id, "urn:dmb:cmp:finance:cashflow:0:spark-etl");
    assert_eq!((component.data_product_id.as_str(), component.environment.as_str()), (DP_ID, "development"));
    assert_eq!(&component.job, job.key());
    assert_eq!(component.descriptor, EXAMPLE);

    let [trigger] = triggers.as_slice() else { panic!("one trigger: {triggers:?}") };
    assert_eq!((trigger.key().group(), trigger.key().name()), (DP_ID, format!("{JOB_NAME}.schedule").as_str()));
    assert_eq!(trigger.job(), job.key());
    assert_eq!(trigger.misfire(), MisfireInstruction::Smart);
    let Schedule::Cron { cron, zone } = trigger.schedule() else { panic!("a cron trigger") };
    assert_eq!((cron.as_str(), zone.name()), ("0 0 2 * * ?", "UTC"));
    // startDate 2024-06-01 is past: the trigger starts now, so nothing "missed" fires at once.
    assert_eq!(trigger.start_ms(), NOW);
    assert_eq!(trigger.end_ms(), Some(1_924_991_999_000)); // 2030-12-31T23:59:59Z

    let schedule = schedule.expect("a schedule");
    assert_eq!(schedule.explanation, Cron::parse("0 0 2 * * ?").unwrap().explain());
    assert_eq!(schedule.next_fires_ms, [NOW + 2 * 3_600_000, NOW + DAY + 2 * 3_600_000, NOW + 2 * DAY + 2 * 3_600_000]);
    assert_eq!((schedule.start_ms, schedule.end_ms), (NOW, Some(1_924_991_999_000)));
}

#[tokio::test]
async fn the_job_data_is_what_the_spark_kind_reads_with_every_field() {
    let yaml = edit(EXAMPLE, "dependencies: []", "dependencies: [/opt/lib/a.jar, /opt/lib/b.jar]");
    let yaml = edit(&yaml, "        queue: root.finance\n", "        queue: root.finance\n        backend: yarn\n");
    let plan = valid(&yaml).await.plan;
    let data = plan.job.data();
    let mut keys: Vec<&str> = data.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "args",
            "backend",
            "className",
            "conf",
            "driverCores",
            "driverMemory",
            "executorCores",
            "executorMemory",
            "jar",
            "jars",
            "logLevel",
            "name",
            "numExecutors",
            "queue"
        ]
    );
    assert_eq!(data["backend"], "yarn");
    let spec = consort_spark::spec_from_data(data, "unused").expect("the spark kind accepts the plan's data");
    assert_eq!(spec.name, JOB_NAME);
    assert_eq!(
        spec.resource,
        consort_spark::AppResource::Jar {
            uri: "/opt/consort/examples/consort-examples.jar".into(),
            main_class: "consort.examples.CountRange".into()
        }
    );
    assert_eq!(spec.args, ["1000"]);
    assert_eq!(spec.jars, ["/opt/lib/a.jar", "/opt/lib/b.jar"]);
    assert_eq!(spec.conf.get("spark.sql.shuffle.partitions").map(String::as_str), Some("200"));
    assert_eq!((spec.driver_cores, spec.executor_cores, spec.num_executors), (Some(1), Some(2), Some(4)));
    assert_eq!((spec.driver_memory.as_deref(), spec.executor_memory.as_deref()), (Some("2g"), Some("4g")));
    assert_eq!((spec.queue.as_deref(), spec.log_level.as_deref()), (Some("root.finance"), Some("INFO")));
    assert_eq!(plan.backend, "yarn");
}

#[tokio::test]
async fn the_pyspark_form_plans_a_python_job_in_its_zone() {
    let yaml = edit(PYSPARK, "        timezone:", "        pyFiles: [/opt/lib/helpers.zip]\n        timezone:");
    let checks = FakeChecks::default();
    let Validated { descriptor, plan } = validate(&yaml, &settings(), &checks, NOW).await.unwrap();
    assert!(
        matches!(&descriptor.component.specific.app, App::Python { py_files, .. } if py_files == &["/opt/lib/helpers.zip"])
    );
    assert!(checks.calls.lock().unwrap().contains(&"python /opt/consort/examples/count_range.py".to_string()));
    let spec = consort_spark::spec_from_data(plan.job.data(), "unused").unwrap();
    assert_eq!(
        spec.resource,
        consort_spark::AppResource::Python { uri: "/opt/consort/examples/count_range.py".into() }
    );
    assert_eq!(spec.py_files, ["/opt/lib/helpers.zip"]);
    assert_eq!(spec.executor_memory.as_deref(), Some("512m"));
    assert!(!plan.job.data().contains_key("queue"));
    let schedule = plan.schedule.unwrap();
    assert_eq!(schedule.timezone, "Europe/Rome");
    // Thursday 2026-01-01 06:30 in Rome is 05:30 UTC; then Friday, then Monday the 5th.
    let at_0530 = 5 * 3_600_000 + 1_800_000;
    assert_eq!(schedule.next_fires_ms, [NOW + at_0530, NOW + DAY + at_0530, NOW + 4 * DAY + at_0530]);
    assert_eq!(schedule.end_ms, None);
}

#[tokio::test]
async fn no_schedule_is_a_durable_job_without_trigger() {
    let start = EXAMPLE.find("          schedule:").unwrap();
    let end = EXAMPLE.find("    - kind: outputport").unwrap();
    let yaml = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    let plan = valid(&yaml).await.plan;
    assert!(plan.triggers.is_empty() && plan.schedule.is_none());
    assert!(plan.job.durable());
}

#[tokio::test]
async fn a_future_start_date_starts_the_trigger_then() {
    let yaml = edit(EXAMPLE, "2024-06-01T00:00:00Z", "2027-03-01T00:00:00+01:00");
    let plan = valid(&yaml).await.plan;
    let start = 1_803_855_600_000; // 2027-02-28T23:00:00Z
    assert_eq!(plan.triggers[0].start_ms(), start);
    assert_eq!(plan.schedule.unwrap().next_fires_ms[0], start + 3 * 3_600_000);
}

#[tokio::test]
async fn yaml_syntax_errors_have_line_and_column() {
    let yaml = edit(EXAMPLE, "          args: [\"1000\"]", "          args: [\"1000\"");
    let p = only(&yaml, "descriptor").await;
    assert!(p.problem.contains("not valid YAML"), "{p:?}");
    assert!(p.line.is_some() && p.column.is_some(), "{p:?}");
    let p = only("a: 1\na: 2\n", "descriptor").await;
    assert_eq!((p.line, p.column), (Some(2), Some(1)));
}

#[tokio::test]
async fn the_descriptor_must_be_a_mapping() {
    only("just text", "descriptor").await;
    only("", "descriptor").await;
}

#[tokio::test]
async fn component_id_to_provision_is_required() {
    let yaml = edit(EXAMPLE, "componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-etl", "");
    only(&yaml, "componentIdToProvision").await;
}

#[tokio::test]
async fn an_unknown_component_lists_the_ids_there() {
    let yaml = edit(
        EXAMPLE,
        "componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-etl",
        "componentIdToProvision: urn:x",
    );
    let p = only(&yaml, "componentIdToProvision").await;
    assert!(p.problem.contains("urn:x"), "{p:?}");
    assert!(
        p.fix.contains("urn:dmb:cmp:finance:cashflow:0:spark-etl, urn:dmb:cmp:finance:cashflow:0:cashflow-table"),
        "{p:?}"
    );
    assert_eq!(p.line, Some(line_of(&yaml, "componentIdToProvision")));
}

#[tokio::test]
async fn the_component_must_be_a_workload() {
    let yaml = edit(
        EXAMPLE,
        "componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-etl",
        "componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:cashflow-table",
    );
    let p = only(&yaml, "dataProduct.components[1].kind").await;
    assert!(p.problem.contains("outputport"), "{p:?}");
    assert_eq!(p.line, Some(line_of(&yaml, "- kind: outputport")));
}

#[tokio::test]
async fn required_fields_are_named() {
    for (from, to, field) in [
        ("  id: urn:dmb:dp:finance:cashflow:0\n", "", "dataProduct.id".to_string()),
        ("  environment: development\n", "", "dataProduct.environment".to_string()),
        ("        jobName: finance-cashflow-0-spark-etl-development\n", "", format!("{SPECIFIC}.jobName")),
        (
            "        jobName: finance-cashflow-0-spark-etl-development\n",
            "        jobName: \"\"\n",
            format!("{SPECIFIC}.jobName"),
        ),
        ("        jar: /opt/consort/examples/consort-examples.jar\n", "", format!("{SPECIFIC}.jar")),
        ("        className: consort.examples.CountRange\n", "", format!("{SPECIFIC}.className")),
        (
            "        jar: /opt/consort/examples/consort-examples.jar\n        className: consort.examples.CountRange\n",
            "",
            format!("{SPECIFIC}.jar"),
        ),
        (
            "        jar: /opt/consort/examples/consort-examples.jar\n",
            "        jar: /x.jar\n        file: /x.py\n",
            format!("{SPECIFIC}.file"),
        ),
    ] {
        let yaml = edit(EXAMPLE, from, to);
        let found = problems(&yaml).await;
        // Removing the environment also breaks nothing else; removing the id nothing else.
        assert!(found.iter().any(|p| p.field == field), "{from:?} → {field}: {found:#?}");
        assert!(found.len() <= 2, "{from:?}: {found:#?}");
    }
    // Without specific, nothing else of the component can be read.
    let start = EXAMPLE.find("      specific:\n        jobName").unwrap();
    let end = EXAMPLE.find("    - kind: outputport").unwrap();
    let yaml = format!("{}{}", &EXAMPLE[..start], &EXAMPLE[end..]);
    only(&yaml, "dataProduct.components[0].specific").await;
}

#[tokio::test]
async fn the_job_name_rule_gives_the_expected_name() {
    let yaml = edit(EXAMPLE, "jobName: finance-cashflow-0-spark-etl-development", "jobName: nightly-etl");
    let p = only(&yaml, &format!("{SPECIFIC}.jobName")).await;
    assert_eq!(p.fix, format!("set jobName: {JOB_NAME}"));
    assert_eq!((p.line, p.column), (Some(line_of(&yaml, "jobName: nightly-etl")), Some(18)));
    let plan = valid_with(&yaml, &Settings { job_name_rule: false, ..settings() }).await.plan;
    assert_eq!(plan.job.key().name(), "nightly-etl");
}

#[tokio::test]
async fn job_names_must_be_usable_as_keys_and_unique_in_the_data_product() {
    let rule_off = Settings { job_name_rule: false, ..settings() };
    let long = "x".repeat(182);
    let yaml = edit(EXAMPLE, JOB_NAME, &long);
    let found = validate(&yaml, &rule_off, &FakeChecks::default(), NOW).await.unwrap_err();
    assert_eq!(found.iter().map(|p| p.field.as_str()).collect::<Vec<_>>(), [format!("{SPECIFIC}.jobName")]);

    let yaml = edit(EXAMPLE, "      specific: {}\n", &format!("      specific:\n        jobName: {JOB_NAME}\n"));
    let yaml = edit(&yaml, "    - kind: outputport", "    - kind: workload");
    let found = validate(&yaml, &rule_off, &FakeChecks::default(), NOW).await.unwrap_err();
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, format!("{SPECIFIC}.jobName"));
    assert!(found[0].problem.contains("dataProduct.components[1]"), "{found:#?}");
}

#[test]
fn two_data_products_with_the_same_name_get_different_keys() {
    let a = job_key("urn:dmb:dp:finance:cashflow:0", JOB_NAME).unwrap();
    let b = job_key("urn:dmb:dp:retail:cashflow:0", JOB_NAME).unwrap();
    assert_ne!(a, b);
}

#[tokio::test]
async fn cores_and_executors_must_be_positive_whole_numbers() {
    for (from, to, field) in [
        ("driverCores: 1", "driverCores: 0", "driverCores"),
        ("executorCores: 2", "executorCores: -2", "executorCores"),
        ("numExecutors: 4", "numExecutors: four", "numExecutors"),
        ("numExecutors: 4", "numExecutors: 4.5", "numExecutors"),
        ("driverCores: 1", "driverCores: 99999999999", "driverCores"),
    ] {
        let p = only(&edit(EXAMPLE, from, to), &format!("{SPECIFIC}.jobConfig.{field}")).await;
        assert!(p.fix.contains(field), "{p:?}");
    }
}

#[tokio::test]
async fn memory_must_be_a_jvm_size() {
    let p =
        only(&edit(EXAMPLE, "driverMemory: 2g", "driverMemory: 2 gigs"), &format!("{SPECIFIC}.jobConfig.driverMemory"))
            .await;
    assert!(p.problem.contains("2 gigs") && p.fix.contains("512m"), "{p:?}");
    only(&edit(EXAMPLE, "executorMemory: 4g", "executorMemory: [4g]"), &format!("{SPECIFIC}.jobConfig.executorMemory"))
        .await;
    valid(&edit(EXAMPLE, "executorMemory: 4g", "executorMemory: 512m")).await;
}

#[tokio::test]
async fn the_log_level_must_be_sparks() {
    let p = only(&edit(EXAMPLE, "logLevel: INFO", "logLevel: LOUD"), &format!("{SPECIFIC}.jobConfig.logLevel")).await;
    assert!(p.fix.contains("WARN"), "{p:?}");
    valid(&edit(EXAMPLE, "logLevel: INFO", "logLevel: warn")).await;
}

#[tokio::test]
async fn conf_keys_and_values() {
    let yaml = edit(EXAMPLE, "spark.sql.shuffle.partitions: \"200\"", "\"spark sql\": \"200\"");
    only(&yaml, &format!("{SPECIFIC}.jobConfig.conf[\"spark sql\"]")).await;
    let yaml = edit(EXAMPLE, "spark.sql.shuffle.partitions: \"200\"", "spark.sql.shuffle.partitions: [200]");
    only(&yaml, &format!("{SPECIFIC}.jobConfig.conf[\"spark.sql.shuffle.partitions\"]")).await;
    // Numbers and booleans are read as written.
    let yaml = edit(
        EXAMPLE,
        "spark.sql.shuffle.partitions: \"200\"",
        "spark.sql.shuffle.partitions: 200\n            spark.x.enabled: true\n            spark.y.fraction: 0.50",
    );
    let conf = valid(&yaml).await.descriptor.component.specific.job_config.conf;
    assert_eq!(
        (
            conf["spark.sql.shuffle.partitions"].as_str(),
            conf["spark.x.enabled"].as_str(),
            conf["spark.y.fraction"].as_str()
        ),
        ("200", "true", "0.50")
    );
}

#[tokio::test]
async fn the_cron_problem_is_consort_crons_own_message() {
    let yaml = edit(EXAMPLE, "cronExpression: \"0 0 2 * * ?\"", "cronExpression: \"0 0 2 * * MON\"");
    let p = only(&yaml, &format!("{SPECIFIC}.jobConfig.schedule.cronExpression")).await;
    assert_eq!(p.problem, Cron::parse("0 0 2 * * MON").unwrap_err().to_string());
    assert!(p.problem.contains("day-of-month"), "{p:?}");
    let yaml = edit(EXAMPLE, "cronExpression: \"0 0 2 * * ?\"", "cronExpression: \"0 * * * *\"");
    let p = only(&yaml, &format!("{SPECIFIC}.jobConfig.schedule.cronExpression")).await;
    assert!(p.problem.contains("has 5 field(s)"), "{p:?}");
}

#[tokio::test]
async fn a_cron_that_never_fires_in_the_window_is_refused() {
    let yaml = edit(EXAMPLE, "cronExpression: \"0 0 2 * * ?\"", "cronExpression: \"0 0 2 * * ? 2031\"");
    let p = only(&yaml, &format!("{SPECIFIC}.jobConfig.schedule.cronExpression")).await;
    assert!(p.problem.contains("never fires"), "{p:?}");
}

#[tokio::test]
async fn dates_are_rfc3339_ordered_and_not_past() {
    let start = format!("{SPECIFIC}.jobConfig.schedule.startDate");
    let end = format!("{SPECIFIC}.jobConfig.schedule.endDate");
    let p = only(&edit(EXAMPLE, "\"2024-06-01T00:00:00Z\"", "\"2024-06-01\""), &start).await;
    assert!(p.fix.contains("2024-06-01T00:00:00Z"), "{p:?}");
    only(&edit(EXAMPLE, "\"2030-12-31T23:59:59Z\"", "\"31/12/2030\""), &end).await;
    let p = only(&edit(EXAMPLE, "\"2030-12-31T23:59:59Z\"", "\"2024-01-01T00:00:00Z\""), &end).await;
    assert!(p.problem.contains("not after startDate"), "{p:?}");
    let yaml = edit(EXAMPLE, "\"2024-06-01T00:00:00Z\"", "\"2020-01-01T00:00:00Z\"");
    let p = only(&edit(&yaml, "\"2030-12-31T23:59:59Z\"", "\"2025-01-01T00:00:00Z\""), &end).await;
    assert!(p.problem.contains("already past"), "{p:?}");
}

#[tokio::test]
async fn the_time_zone_must_be_iana() {
    let yaml =
        edit(EXAMPLE, "        queue: root.finance\n", "        queue: root.finance\n        timezone: Mars/Olympus\n");
    let p = only(&yaml, &format!("{SPECIFIC}.timezone")).await;
    assert!(p.problem.contains("Mars/Olympus"), "{p:?}");
    let yaml =
        edit(EXAMPLE, "        queue: root.finance\n", "        queue: root.finance\n        timezone: Asia/Tokyo\n");
    assert_eq!(valid(&yaml).await.plan.schedule.unwrap().timezone, "Asia/Tokyo");
}

#[tokio::test]
async fn the_backend_must_be_configured() {
    let yaml = edit(EXAMPLE, "        queue: root.finance\n", "        queue: root.finance\n        backend: emr\n");
    let checks = FakeChecks::default();
    let found = problems_with(&yaml, &checks).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, format!("{SPECIFIC}.backend"));
    assert!(found[0].fix.contains("local, yarn"), "{found:#?}");
    // An unconfigured backend is not asked whether it answers.
    assert!(!checks.calls.lock().unwrap().iter().any(|c| c.starts_with("backend")));
}

#[tokio::test]
async fn a_backend_that_does_not_answer_is_a_problem() {
    let checks = FakeChecks { backend_down: true, ..FakeChecks::default() };
    let found = problems_with(EXAMPLE, &checks).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, format!("{SPECIFIC}.backend"));
    assert_eq!((found[0].problem.as_str(), found[0].fix.as_str()), ("backend `local` does not answer", "start it"));
}

#[tokio::test]
async fn the_jar_and_its_class_are_checked() {
    let checks = FakeChecks { jar_missing: true, ..FakeChecks::default() };
    let found = problems_with(EXAMPLE, &checks).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, format!("{SPECIFIC}.jar"));
    assert_eq!(found[0].line, Some(line_of(EXAMPLE, "jar: /opt/consort")));
    assert!(
        checks
            .calls
            .lock()
            .unwrap()
            .contains(&"jar /opt/consort/examples/consort-examples.jar consort.examples.CountRange".to_string())
    );

    // A class name that is not one is reported without asking the storage.
    let checks = FakeChecks::default();
    let yaml = edit(EXAMPLE, "className: consort.examples.CountRange", "className: consort..CountRange");
    let found = problems_with(&yaml, &checks).await;
    assert_eq!(found.iter().map(|p| p.field.clone()).collect::<Vec<_>>(), [format!("{SPECIFIC}.className")]);
    assert!(!checks.calls.lock().unwrap().iter().any(|c| c.starts_with("jar")));
}

#[tokio::test]
async fn the_python_file_is_checked() {
    let checks = FakeChecks { python_missing: true, ..FakeChecks::default() };
    let found = problems_with(PYSPARK, &checks).await;
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].field, format!("{SPECIFIC}.file"));
    let p = only(
        &edit(PYSPARK, "file: /opt/consort/examples/count_range.py", "file: /opt/consort/examples/count_range.txt"),
        &format!("{SPECIFIC}.file"),
    )
    .await;
    assert!(p.problem.contains(".py"), "{p:?}");
}

#[tokio::test]
async fn unknown_keys_are_reported_with_what_they_meant() {
    let p = only(&edit(EXAMPLE, "driverMemory: 2g", "driverMemroy: 2g"), &format!("{SPECIFIC}.jobConfig.driverMemroy"))
        .await;
    assert!(p.fix.contains("`driverMemory`"), "{p:?}");
    let p = only(
        &edit(EXAMPLE, "        queue: root.finance\n", "        queue: root.finance\n        cdeService: svc\n"),
        &format!("{SPECIFIC}.cdeService"),
    )
    .await;
    assert!(p.fix.contains("jobName"), "{p:?}");
}

#[tokio::test]
async fn an_empty_queue_is_no_queue() {
    let plan = valid(&edit(EXAMPLE, "queue: root.finance", "queue: \"\"")).await.plan;
    assert!(!plan.job.data().contains_key("queue"));
}

#[tokio::test]
async fn every_problem_is_reported_at_once_in_document_order() {
    let mut yaml = EXAMPLE.to_string();
    for (from, to) in [
        ("jobName: finance-cashflow-0-spark-etl-development", "jobName: etl"),
        ("className: consort.examples.CountRange", "className: 42"),
        ("queue: root.finance", "queue: root.finance\n        backend: emr\n        timezone: Nowhere/Land"),
        ("driverCores: 1", "driverCores: 0"),
        ("driverMemory: 2g", "driverMemory: 2 gigs"),
        ("executorCores: 2", "executorCores: two"),
        ("executorMemory: 4g", "executorMemory: lots"),
        ("numExecutors: 4", "numExecutors: -4"),
        ("logLevel: INFO", "logLevel: CHATTY"),
        ("spark.sql.shuffle.partitions: \"200\"", "\"spark sql\": \"200\""),
        ("cronExpression: \"0 0 2 * * ?\"", "cronExpression: \"0 0 2 * *\""),
        ("\"2024-06-01T00:00:00Z\"", "\"yesterday\""),
        ("\"2030-12-31T23:59:59Z\"", "\"2025-01-01T00:00:00Z\""),
    ] {
        yaml = edit(&yaml, from, to);
    }
    let found = problems(&yaml).await;
    let fields: Vec<String> = found.iter().map(|p| p.field.replace(SPECIFIC, "~")).collect();
    assert_eq!(
        fields,
        [
            "~.jobName",
            "~.className",
            "~.backend",
            "~.timezone",
            "~.jobConfig.driverCores",
            "~.jobConfig.driverMemory",
            "~.jobConfig.executorCores",
            "~.jobConfig.executorMemory",
            "~.jobConfig.numExecutors",
            "~.jobConfig.logLevel",
            "~.jobConfig.conf[\"spark sql\"]",
            "~.jobConfig.schedule.cronExpression",
            "~.jobConfig.schedule.startDate",
            "~.jobConfig.schedule.endDate",
        ],
        "{found:#?}"
    );
    assert!(found.iter().all(|p| p.line.is_some() && p.column.is_some()), "{found:#?}");
    let lines: Vec<u32> = found.iter().map(|p| p.line.unwrap()).collect();
    assert!(lines.is_sorted(), "{lines:?}");
}

#[test]
fn target_reads_only_what_unprovision_needs() {
    // A descriptor that no longer validates still names its component.
    let broken = edit(EXAMPLE, "className: consort.examples.CountRange", "className: [broken");
    assert!(target(&broken).is_err(), "YAML syntax is still needed");
    let broken = edit(EXAMPLE, "driverCores: 1", "driverCores: lots");
    let broken = edit(&broken, "        jar: /opt/consort/examples/consort-examples.jar\n", "");
    let t = target(&broken).unwrap();
    assert_eq!(t.component_id, "urn:dmb:cmp:finance:cashflow:0:spark-etl");
    assert_eq!((t.data_product_id.as_str(), t.environment.as_str()), (DP_ID, "development"));

    let missing = edit(EXAMPLE, "  environment: development\n", "");
    let missing = edit(&missing, "componentIdToProvision: urn:dmb:cmp:finance:cashflow:0:spark-etl", "");
    let fields: Vec<String> = target(&missing).unwrap_err().into_iter().map(|p| p.field).collect();
    assert_eq!(fields, ["componentIdToProvision", "dataProduct.environment"]);
}

#[tokio::test]
async fn public_info_describes_the_job() {
    let plan = valid(EXAMPLE).await.plan;
    let info = public_info(&plan, Some("https://consort.example.com/api/v1/jobs/x"));
    let get = |key: &str| info.iter().find(|e| e.key == key).unwrap_or_else(|| panic!("{key} in {info:#?}"));
    assert_eq!(get("jobKey").value, format!("{DP_ID}.{JOB_NAME}"));
    assert!(get("schedule").value.contains("0 0 2 * * ?"));
    assert_eq!(get("nextFireTimes").value, "2026-01-01T02:00:00Z, 2026-01-02T02:00:00Z, 2026-01-03T02:00:00Z");
    assert_eq!(get("sparkBackend").value, "local");
    assert_eq!(get("jobStatus").href.as_deref(), Some("https://consort.example.com/api/v1/jobs/x"));
    let json = consort_provisioner::public_info_json(&info);
    assert_eq!(json["jobKey"]["type"], "string");
    assert_eq!(json["jobKey"]["label"], "Job");
}

#[tokio::test]
async fn py_files_go_with_a_python_file() {
    let yaml = edit(
        EXAMPLE,
        "        queue: root.finance\n",
        "        queue: root.finance\n        pyFiles: [/opt/lib/x.zip]\n",
    );
    let p = only(&yaml, &format!("{SPECIFIC}.pyFiles")).await;
    assert!(p.fix.contains("dependencies"), "{p:?}");
}

#[tokio::test]
async fn a_missing_kind_is_reported_and_the_rest_still_checked() {
    let yaml = edit(
        EXAMPLE,
        "    - kind: workload\n      id: urn:dmb:cmp:finance:cashflow:0:spark-etl",
        "    - id: urn:dmb:cmp:finance:cashflow:0:spark-etl",
    );
    let yaml = edit(&yaml, "driverMemory: 2g", "driverMemory: big");
    let fields: Vec<String> = problems(&yaml).await.into_iter().map(|p| p.field).collect();
    assert_eq!(fields, ["dataProduct.components[0].kind".to_string(), format!("{SPECIFIC}.jobConfig.driverMemory")]);
}

#[tokio::test]
async fn component_ids_must_be_unique() {
    let yaml = edit(
        EXAMPLE,
        "      id: urn:dmb:cmp:finance:cashflow:0:cashflow-table",
        "      id: urn:dmb:cmp:finance:cashflow:0:spark-etl",
    );
    let found = problems(&yaml).await;
    assert!(found.iter().any(|p| p.field == "dataProduct.components[1].id"), "{found:#?}");
}

#[tokio::test]
async fn adopt_job_names_the_job_the_component_replaces() {
    let with =
        |adopt: &str| edit(EXAMPLE, "        queue: root.finance\n", &format!("        queue: root.finance\n{adopt}"));
    let plan = valid(&with("        adoptJob: {jobGroup: quartz, jobName: nightly}\n")).await.plan;
    assert_eq!(plan.adopts.map(|k| k.to_string()), Some("quartz.nightly".to_string()));
    let plan = valid(&with("        adoptJob: {jobName: nightly}\n")).await.plan;
    assert_eq!(plan.adopts.map(|k| k.to_string()), Some("DEFAULT.nightly".to_string()), "the group defaults");
    let own = format!("        adoptJob: {{jobGroup: \"{DP_ID}\", jobName: {JOB_NAME}}}\n");
    assert_eq!(valid(&with(&own)).await.plan.adopts, None, "its own job is not adopted");
    only(&with("        adoptJob: quartz.nightly\n"), &format!("{SPECIFIC}.adoptJob")).await;
    only(&with("        adoptJob: {jobGroup: quartz}\n"), &format!("{SPECIFIC}.adoptJob.jobName")).await;
    only(&with("        adoptJob: {jobName: nightly, name: x}\n"), &format!("{SPECIFIC}.adoptJob.name")).await;
}
