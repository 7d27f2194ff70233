//! The component descriptor: the typed form of the component to provision, how it is read
//! from the request's YAML, and the lenient reading that unprovision needs.
//!
//! The YAML (`descriptor` of a `ProvisioningRequest`, kind `COMPONENT_DESCRIPTOR`) has two
//! top-level keys: `dataProduct` (the whole data product, with all its components) and
//! `componentIdToProvision` (the `id` of the component to act on). The component must be a
//! `workload`; its `specific` section is read as a Spark job:
//!
//! ```yaml
//! specific:
//!   jobName: finance-cashflow-0-spark-etl-development   # the job's name (see the job-name rule)
//!   jar: hdfs://nameservice1/apps/etl.jar                # JVM form: jar + className ...
//!   className: com.example.cashflow.Main
//!   # file: hdfs://nameservice1/apps/etl.py            # ... or PySpark form: file (+ pyFiles)
//!   # pyFiles: [hdfs://nameservice1/apps/lib.zip]
//!   queue: root.finance                                  # optional; "" means none
//!   timezone: Europe/Rome                                # optional IANA zone of the schedule
//!   backend: yarn                                        # optional Spark backend of this server
//!   jobConfig:                                           # optional, every field optional
//!     args: ["--run-date", "today"]
//!     dependencies: [hdfs://nameservice1/apps/lib.jar]   # extra jars (Spark's --jars)
//!     driverCores: 1
//!     driverMemory: 2g                                   # JVM sizes: 512m, 2g, ...
//!     executorCores: 2
//!     executorMemory: 4g
//!     numExecutors: 4
//!     logLevel: INFO
//!     conf: {spark.sql.shuffle.partitions: "200"}
//!     schedule:                                          # optional: no schedule = fired by hand
//!       cronExpression: "0 0 2 * * ?"                    # Quartz syntax, seconds first
//!       startDate: "2024-06-01T00:00:00Z"                # optional, RFC 3339
//!       endDate: "2030-12-31T23:59:59Z"                  # optional, RFC 3339
//! ```
//!
//! Unlike upstream, `specific` and `jobConfig` are closed: a key that is not one of these
//! fields is reported (with the field it most likely meant), so a typo never silently drops
//! a setting.

use std::collections::{BTreeMap, BTreeSet};

use consort_cron::Cron;

use crate::problem::{DOCUMENT, Problem, index, join};
use crate::yaml::{self, Node, Value};

/// The component to provision, with its data product.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Descriptor {
    /// The data product the component belongs to.
    pub data_product: DataProduct,
    /// The component named by `componentIdToProvision`.
    pub component: SparkComponent,
    /// Its position in `dataProduct.components` (counted from 0), for field paths.
    pub component_index: usize,
}

impl Descriptor {
    /// The path of a field of the component's `specific` section, e.g.
    /// `field("jobConfig.driverMemory")` is
    /// `dataProduct.components[0].specific.jobConfig.driverMemory`.
    pub fn field(&self, specific_field: &str) -> String {
        specific_path(self.component_index, specific_field)
    }
}

fn specific_path(component_index: usize, rel: &str) -> String {
    let base = format!("dataProduct.components[{component_index}].specific");
    match rel {
        "" => base,
        rel if rel.starts_with('[') => format!("{base}{rel}"),
        rel => format!("{base}.{rel}"),
    }
}

/// The data product's fields this provisioner uses. Absent optional text is empty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataProduct {
    /// `dataProduct.id`, e.g. `urn:dmb:dp:finance:cashflow:0`: the group of the job's key.
    pub id: String,
    /// `dataProduct.name`.
    pub name: String,
    /// `dataProduct.domain`.
    pub domain: String,
    /// `dataProduct.environment`, e.g. `development`.
    pub environment: String,
    /// `dataProduct.version`.
    pub version: String,
    /// `dataProduct.description`.
    pub description: Option<String>,
    /// `dataProduct.dataProductOwner`, e.g. `user:jane.doe_example.com`.
    pub data_product_owner: Option<String>,
    /// `dataProduct.devGroup`.
    pub dev_group: Option<String>,
    /// `dataProduct.ownerGroup`.
    pub owner_group: Option<String>,
}

/// A workload component that runs a Spark job.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SparkComponent {
    /// `id`, e.g. `urn:dmb:cmp:finance:cashflow:0:spark-etl`.
    pub id: String,
    /// `name` (empty when absent).
    pub name: String,
    /// `description`.
    pub description: Option<String>,
    /// `version` (empty when absent).
    pub version: String,
    /// The `specific` section.
    pub specific: Specific,
}

/// The component's `specific` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Specific {
    /// `jobName`: the job key's name and the Spark application's name.
    pub job_name: String,
    /// What to run.
    pub app: App,
    /// `queue` (YARN), `None` when absent or empty.
    pub queue: Option<String>,
    /// `jobConfig` (all defaults when absent).
    pub job_config: JobConfig,
    /// `timezone`: the IANA zone the schedule is read in; the server's default when absent.
    pub timezone: Option<String>,
    /// `backend`: the Spark backend to submit to; the server's default when absent.
    pub backend: Option<String>,
    /// `adoptJob: {jobGroup, jobName}`: an existing job (e.g. one imported from Quartz and
    /// described by reverse provisioning) that this component replaces; provisioning deletes
    /// it with its triggers (its runs stay) in the same transaction, so the work never runs
    /// twice.
    pub adopt_job: Option<consort_scheduler::JobKey>,
}

/// The application: a jar and its main class, or a PySpark file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum App {
    /// `jar` + `className`.
    Jar {
        /// Where the jar is (`hdfs://…`, `s3a://…`, a local path, …).
        jar: String,
        /// The class whose `main` Spark calls.
        class_name: String,
    },
    /// `file` (+ `pyFiles`).
    Python {
        /// The `.py` entry point.
        file: String,
        /// Extra Python files (`--py-files`).
        py_files: Vec<String>,
    },
}

/// `jobConfig`: how Spark runs the application, and when.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JobConfig {
    /// `args`: the application's arguments.
    pub args: Vec<String>,
    /// `dependencies`: extra jars on the classpath (Spark's `--jars`).
    pub dependencies: Vec<String>,
    /// `driverCores`.
    pub driver_cores: Option<u32>,
    /// `driverMemory`, a JVM size such as `2g`.
    pub driver_memory: Option<String>,
    /// `executorCores`.
    pub executor_cores: Option<u32>,
    /// `executorMemory`, a JVM size such as `4g`.
    pub executor_memory: Option<String>,
    /// `numExecutors`.
    pub num_executors: Option<u32>,
    /// `logLevel`: one of Spark's (`INFO`, `WARN`, …).
    pub log_level: Option<String>,
    /// `conf`: Spark properties.
    pub conf: BTreeMap<String, String>,
    /// `schedule`: none means the job only runs when fired by hand.
    pub schedule: Option<ScheduleSpec>,
}

/// `jobConfig.schedule`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleSpec {
    /// `cronExpression`, Quartz syntax (seconds first), e.g. `0 0 2 * * ?`.
    pub cron_expression: String,
    /// `startDate`, RFC 3339, e.g. `2024-06-01T00:00:00Z`.
    pub start_date: Option<String>,
    /// `endDate`, RFC 3339.
    pub end_date: Option<String>,
}

/// What unprovision needs from a descriptor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// `componentIdToProvision`.
    pub component_id: String,
    /// `dataProduct.id`.
    pub data_product_id: String,
    /// `dataProduct.environment`.
    pub environment: String,
}

/// Reads only what unprovision needs: `componentIdToProvision`, `dataProduct.id` and
/// `dataProduct.environment`. Nothing else is looked at, so a component can be
/// unprovisioned even when its jar is gone or the rest of its descriptor no longer
/// validates.
pub fn target(yaml: &str) -> Result<Target, Vec<Problem>> {
    let root = yaml::parse(yaml).map_err(|p| vec![p])?;
    if !matches!(root.value, Value::Map(_)) {
        return Err(vec![not_a_mapping(&root)]);
    }
    let mut walk = Walk::default();
    let component_id = walk.root_text(&root, "", "componentIdToProvision", COMPONENT_ID_FIX);
    let data_product = walk.root_mapping(&root, "dataProduct");
    let (mut data_product_id, mut environment) = (None, None);
    if let Some(dp) = data_product {
        data_product_id = walk.root_text(dp, "dataProduct", "id", DP_ID_FIX);
        environment = walk.root_text(dp, "dataProduct", "environment", ENVIRONMENT_FIX);
    }
    match (component_id, data_product_id, environment) {
        (Some(component_id), Some(data_product_id), Some(environment)) if walk.problems.is_empty() => {
            Ok(Target { component_id, data_product_id, environment })
        }
        _ => Err(walk.problems),
    }
}

const COMPONENT_ID_FIX: &str = "set componentIdToProvision to the id of the component to act on, e.g. \
     urn:dmb:cmp:finance:cashflow:0:spark-etl";
const DP_ID_FIX: &str = "set dataProduct.id to the data product's id, e.g. urn:dmb:dp:finance:cashflow:0";
const ENVIRONMENT_FIX: &str = "set dataProduct.environment to the environment, e.g. development";

fn not_a_mapping(root: &Node) -> Problem {
    root.problem(
        DOCUMENT,
        format!(
            "the descriptor must be a YAML mapping with dataProduct and componentIdToProvision, found {}",
            root.kind()
        ),
        "send the component descriptor: `dataProduct: {…}` and `componentIdToProvision: <component id>`",
    )
}

/// A descriptor read as far as it could be: every problem found, and the component when
/// it could be located (even with problems in its fields, which are then left empty).
#[derive(Debug)]
pub(crate) struct Decoded {
    pub descriptor: Option<Descriptor>,
    pub problems: Vec<Problem>,
    /// Positions and validity of the fields of `specific`.
    pub locs: Locs,
}

/// Where the fields of `specific` are, by path relative to `specific`, and which ones had a
/// problem.
#[derive(Debug, Default)]
pub(crate) struct Locs {
    component_index: usize,
    at: BTreeMap<String, (u32, u32)>,
    bad: BTreeSet<String>,
}

impl Locs {
    /// A problem about the field at `rel` (relative to `specific`), at its position.
    pub fn problem(&self, rel: &str, problem: impl Into<String>, fix: impl Into<String>) -> Problem {
        let p = Problem::new(specific_path(self.component_index, rel), problem, fix);
        match self.at.get(rel).or_else(|| self.at.get("")) {
            Some(&(line, column)) => p.at(line, column),
            None => p,
        }
    }

    /// Whether the field at `rel` was read without a problem.
    pub fn ok(&self, rel: &str) -> bool {
        !self.bad.contains(rel)
    }

    /// Marks a field as having a problem.
    pub fn mark_bad(&mut self, rel: &str) {
        self.bad.insert(rel.to_string());
    }
}

#[derive(Debug, Default)]
struct Walk {
    problems: Vec<Problem>,
    locs: Locs,
}

/// Reads a descriptor, reporting every problem of shape, type, presence and format. The
/// rules that need the server's settings, the clock or the outside world are
/// [`crate::validate()`]'s.
pub(crate) fn decode(yaml: &str) -> Decoded {
    let mut walk = Walk::default();
    let descriptor = match yaml::parse(yaml) {
        Ok(root) if matches!(root.value, Value::Map(_)) => walk.descriptor(&root),
        Ok(root) => {
            walk.problems.push(not_a_mapping(&root));
            None
        }
        Err(p) => {
            walk.problems.push(p);
            None
        }
    };
    Decoded { descriptor, problems: walk.problems, locs: walk.locs }
}

impl Walk {
    /// A required text field outside `specific` (full paths).
    fn root_text(&mut self, parent: &Node, parent_path: &str, key: &str, fix: &str) -> Option<String> {
        let path = join(parent_path, key);
        match parent.get(key) {
            None | Some(Node { value: Value::Null, .. }) => {
                self.problems.push(parent.problem(path, "missing", fix));
                None
            }
            Some(node) => match node.text() {
                Some(text) if !text.trim().is_empty() => Some(text),
                Some(_) => {
                    self.problems.push(node.problem(path, "is empty", fix));
                    None
                }
                None => {
                    self.problems.push(node.problem(path, format!("expected text, found {}", node.kind()), fix));
                    None
                }
            },
        }
    }

    /// A required mapping under the root.
    fn root_mapping<'n>(&mut self, root: &'n Node, key: &str) -> Option<&'n Node> {
        match root.get(key) {
            Some(node @ Node { value: Value::Map(_), .. }) => Some(node),
            None | Some(Node { value: Value::Null, .. }) => {
                self.problems.push(root.problem(
                    key,
                    "missing",
                    "send the whole data product under dataProduct, with its components",
                ));
                None
            }
            Some(node) => {
                self.problems.push(node.problem(
                    key,
                    format!("expected a mapping (the data product), found {}", node.kind()),
                    "send the whole data product under dataProduct, with its components",
                ));
                None
            }
        }
    }

    fn descriptor(&mut self, root: &Node) -> Option<Descriptor> {
        let wanted = self.root_text(root, "", "componentIdToProvision", COMPONENT_ID_FIX);
        let dp = self.root_mapping(root, "dataProduct")?;
        let text = |key: &str| dp.get(key).and_then(Node::text);
        let data_product = DataProduct {
            id: self.root_text(dp, "dataProduct", "id", DP_ID_FIX).unwrap_or_default(),
            name: text("name").unwrap_or_default(),
            domain: text("domain").unwrap_or_default(),
            environment: self.root_text(dp, "dataProduct", "environment", ENVIRONMENT_FIX).unwrap_or_default(),
            version: text("version").unwrap_or_default(),
            description: text("description"),
            data_product_owner: text("dataProductOwner"),
            dev_group: text("devGroup"),
            owner_group: text("ownerGroup"),
        };
        let components = match dp.get("components") {
            Some(Node { value: Value::Seq(items), .. }) => items.as_slice(),
            None | Some(Node { value: Value::Null, .. }) => {
                self.problems.push(dp.problem(
                    "dataProduct.components",
                    "missing",
                    "list the data product's components under dataProduct.components, including this one",
                ));
                return None;
            }
            Some(node) => {
                self.problems.push(node.problem(
                    "dataProduct.components",
                    format!("expected a list of components, found {}", node.kind()),
                    "list the data product's components under dataProduct.components, including this one",
                ));
                return None;
            }
        };
        let wanted = wanted?;
        let ids: Vec<String> = components.iter().filter_map(|c| c.get("id").and_then(Node::text)).collect();
        let mut matching =
            components.iter().enumerate().filter(|(_, c)| c.get("id").and_then(Node::text) == Some(wanted.clone()));
        let Some((component_index, component)) = matching.next() else {
            let at = root.get("componentIdToProvision").unwrap_or(root);
            let fix = if ids.is_empty() {
                "add the component to dataProduct.components (it has none with an id)".to_string()
            } else {
                format!("set componentIdToProvision to one of the components' ids: {}", ids.join(", "))
            };
            self.problems.push(at.problem(
                "componentIdToProvision",
                format!("no component in dataProduct.components has the id `{wanted}`"),
                fix,
            ));
            return None;
        };
        for (other, node) in matching {
            let id = node.get("id").unwrap_or(node);
            self.problems.push(id.problem(
                join(&index("dataProduct.components", other), "id"),
                format!("the id `{wanted}` is also the id of dataProduct.components[{component_index}]"),
                "give each component its own id",
            ));
        }
        let base = index("dataProduct.components", component_index);
        match component.get("kind").map(|k| (k, k.text())) {
            Some((_, Some(kind))) if kind == "workload" => {}
            Some((node, kind)) => {
                self.problems.push(node.problem(
                    join(&base, "kind"),
                    format!(
                        "component `{wanted}` is {}, not a workload: this provisioner runs Spark jobs, which are workloads",
                        kind.map_or_else(|| node.kind().to_string(), |k| format!("a `{k}`"))
                    ),
                    "send this component to the provisioner of its kind, or make it a workload (kind: workload)",
                ));
                return None;
            }
            None => self.problems.push(component.problem(
                join(&base, "kind"),
                "missing",
                "set kind: workload (a Spark job is a workload)",
            )),
        }
        let specific = match component.get("specific") {
            Some(node @ Node { value: Value::Map(_), .. }) => node,
            other => {
                let at = other.unwrap_or(component);
                self.problems.push(at.problem(
                    join(&base, "specific"),
                    match other.filter(|n| !matches!(n.value, Value::Null)) {
                        None => "missing".to_string(),
                        Some(n) => format!("expected a mapping, found {}", n.kind()),
                    },
                    "describe the Spark job under specific: at least jobName, and jar with className (or a Python file)",
                ));
                return None;
            }
        };
        let ctext = |key: &str| component.get(key).and_then(Node::text);
        self.locs.component_index = component_index;
        self.locs.at.insert(String::new(), (specific.line, specific.column));
        let specific_section = self.specific(specific);
        // Two components of one data product with the same jobName would share a job key.
        if let Some(name) = Some(&specific_section.job_name).filter(|n| !n.is_empty()) {
            for (other, node) in components.iter().enumerate().filter(|(i, _)| *i != component_index) {
                let other_name = node.get("specific").and_then(|s| s.get("jobName")).and_then(Node::text);
                let is_workload = node.get("kind").and_then(Node::text).is_none_or(|k| k == "workload");
                if is_workload && other_name.as_ref() == Some(name) {
                    self.fail(
                        "jobName",
                        format!(
                            "`{name}` is also the jobName of dataProduct.components[{other}]: the two jobs would \
                             have the same key and replace each other"
                        ),
                        "give each component of the data product its own jobName",
                    );
                }
            }
        }
        Some(Descriptor {
            data_product,
            component: SparkComponent {
                id: wanted,
                name: ctext("name").unwrap_or_default(),
                description: ctext("description"),
                version: ctext("version").unwrap_or_default(),
                specific: specific_section,
            },
            component_index,
        })
    }

    fn fail(&mut self, rel: &str, problem: impl Into<String>, fix: impl Into<String>) {
        self.locs.mark_bad(rel);
        let p = self.locs.problem(rel, problem, fix);
        self.problems.push(p);
    }

    /// The value of `key` under `parent` (null reads as absent), recording its position
    /// (the parent's when absent). Returns its relative path.
    fn child<'n>(&mut self, parent: &'n Node, parent_rel: &str, key: &str) -> (String, Option<&'n Node>) {
        let rel = join(parent_rel, key);
        let node = parent.get(key).filter(|n| !matches!(n.value, Value::Null));
        let node_at = node.unwrap_or(parent);
        self.locs.at.insert(rel.clone(), (node_at.line, node_at.column));
        (rel, node)
    }

    /// Reports keys of `node` that are not in `known`.
    fn closed(&mut self, node: &Node, rel: &str, what: &str, known: &[&str]) {
        let Value::Map(entries) = &node.value else { return };
        for (key, _) in entries {
            let name = key.text().unwrap_or_default();
            if known.contains(&name.as_str()) {
                continue;
            }
            let key_rel = join(rel, &name);
            self.locs.at.insert(key_rel.clone(), (key.line, key.column));
            let fix = match closest(&name, known) {
                Some(meant) => format!("did you mean `{meant}`? Rename it, or remove it"),
                None => format!("remove it; the fields of {what} are: {}", known.join(", ")),
            };
            self.fail(&key_rel, format!("`{name}` is not a field of {what}"), fix);
        }
    }

    /// A text field; `required` is the fix for when it is missing or empty.
    fn text(&mut self, parent: &Node, parent_rel: &str, key: &str, required: Option<&str>) -> Option<String> {
        let (rel, node) = self.child(parent, parent_rel, key);
        let Some(node) = node else {
            if let Some(fix) = required {
                self.fail(&rel, "missing", fix);
            }
            return None;
        };
        match node.text() {
            Some(text) if text.trim().is_empty() => {
                if let Some(fix) = required {
                    self.fail(&rel, "is empty", fix);
                }
                None
            }
            Some(text) => Some(text),
            None => {
                self.fail(
                    &rel,
                    format!("expected text, found {}", node.kind()),
                    required.unwrap_or("write it as a single value (quoted text)"),
                );
                None
            }
        }
    }

    /// A list of text values (numbers read as written).
    fn texts(&mut self, parent: &Node, parent_rel: &str, key: &str, example: &str) -> Vec<String> {
        let (rel, node) = self.child(parent, parent_rel, key);
        let Some(node) = node else { return Vec::new() };
        let Value::Seq(items) = &node.value else {
            self.fail(&rel, format!("expected a list, found {}", node.kind()), format!("write a list, e.g. {example}"));
            return Vec::new();
        };
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_rel = index(&rel, i);
            self.locs.at.insert(item_rel.clone(), (item.line, item.column));
            match item.text() {
                Some(text) => out.push(text),
                None => {
                    self.fail(
                        &item_rel,
                        format!("expected text, found {}", item.kind()),
                        format!("write each item as text, e.g. {example}"),
                    );
                }
            }
        }
        out
    }

    /// A positive whole number.
    fn count(&mut self, parent: &Node, parent_rel: &str, key: &str, what: &str) -> Option<u32> {
        let (rel, node) = self.child(parent, parent_rel, key);
        let node = node?;
        let fix = format!(
            "set {key} to a whole number of {what}, at least 1, e.g. {key}: 2; or leave it out for Spark's default"
        );
        match node.value {
            Value::Int(n) if n >= 1 => match u32::try_from(n) {
                Ok(n) => Some(n),
                Err(_) => {
                    self.fail(&rel, format!("{n} is too large"), fix);
                    None
                }
            },
            Value::Int(n) => {
                self.fail(&rel, format!("{n} is not positive: Spark needs at least 1"), fix);
                None
            }
            _ => {
                self.fail(&rel, format!("expected a whole number, found {} `{node}`", node.kind()), fix);
                None
            }
        }
    }

    /// A JVM memory size.
    fn memory(&mut self, parent: &Node, parent_rel: &str, key: &str) -> Option<String> {
        let text = self.text(parent, parent_rel, key, None)?;
        if is_memory(&text) {
            return Some(text);
        }
        let rel = join(parent_rel, key);
        self.fail(
            &rel,
            format!("`{text}` is not a JVM memory size"),
            format!("write a number and a unit (k, m, g or t), e.g. {key}: 512m or {key}: 2g"),
        );
        None
    }

    fn specific(&mut self, node: &Node) -> Specific {
        const FIELDS: [&str; 10] =
            ["jobName", "jar", "className", "file", "pyFiles", "queue", "jobConfig", "timezone", "backend", "adoptJob"];
        self.closed(node, "", "specific", &FIELDS);
        let job_name = self
            .text(
                node,
                "",
                "jobName",
                Some("set jobName: the name of the job (with the job-name rule: <component id without urn:dmb:cmp:>-<environment>, every character other than a letter or digit replaced by -)"),
            )
            .unwrap_or_default();
        let app = self.app(node);
        let queue = self.text(node, "", "queue", None);
        let timezone = self.text(node, "", "timezone", None);
        let backend = self.text(node, "", "backend", None);
        let (rel, config) = self.child(node, "", "jobConfig");
        let job_config = match config {
            None => JobConfig::default(),
            Some(config @ Node { value: Value::Map(_), .. }) => self.job_config(config, &rel),
            Some(other) => {
                self.fail(
                    &rel,
                    format!("expected a mapping, found {}", other.kind()),
                    "write jobConfig as a mapping, e.g. jobConfig: {driverMemory: 2g, numExecutors: 4}",
                );
                JobConfig::default()
            }
        };
        let adopt_job = self.adopt_job(node);
        Specific { job_name, app, queue, job_config, timezone, backend, adopt_job }
    }

    fn adopt_job(&mut self, node: &Node) -> Option<consort_scheduler::JobKey> {
        let (rel, adopt) = self.child(node, "", "adoptJob");
        let adopt = adopt?;
        if !matches!(adopt.value, Value::Map(_)) {
            self.fail(
                &rel,
                format!("expected a mapping, found {}", adopt.kind()),
                "write adoptJob: {jobGroup: GROUP, jobName: NAME}, as reverse provisioning answers it",
            );
            return None;
        }
        self.closed(adopt, &rel, "adoptJob", &["jobGroup", "jobName"]);
        let name = self.text(adopt, &rel, "jobName", Some("set jobName: the name of the job to adopt"))?;
        let group = self.text(adopt, &rel, "jobGroup", None).unwrap_or_else(|| consort_scheduler::DEFAULT_GROUP.into());
        match consort_scheduler::JobKey::new(group, name) {
            Ok(key) => Some(key),
            Err(e) => {
                self.fail(&rel, e.to_string(), "name the job as consort jobs list shows it");
                None
            }
        }
    }

    fn app(&mut self, node: &Node) -> App {
        let jar = self.text(node, "", "jar", None);
        let class_name = self.text(node, "", "className", None);
        let file = self.text(node, "", "file", None);
        let py_files = self.texts(node, "", "pyFiles", "[hdfs://nameservice1/apps/lib.zip]");
        let jar_form = jar.is_some() || class_name.is_some();
        if let (true, Some(_)) = (jar_form, &file) {
            self.fail(
                "file",
                "both a jar (jar, className) and a Python file (file) are given; a component runs one application",
                "keep jar with className for a JVM application, or file (with pyFiles) for PySpark, and remove the other",
            );
        }
        if jar_form && !py_files.is_empty() {
            self.fail(
                "pyFiles",
                "pyFiles is for PySpark applications (file), but this one runs a jar",
                "remove pyFiles, or use file instead of jar and className; extra jars go in jobConfig.dependencies",
            );
        }
        if let Some(file) = file.filter(|_| !jar_form) {
            if !file.ends_with(".py") {
                self.fail(
                    "file",
                    format!("`{file}` is not a Python file: a PySpark entry point ends in .py"),
                    "point file at the application's .py file (a JVM application uses jar and className instead)",
                );
            }
            return App::Python { file, py_files };
        }
        if !jar_form {
            self.fail(
                "jar",
                "missing: the component names no application",
                "set jar (the application jar, e.g. hdfs://nameservice1/apps/etl.jar) and className, or file for a PySpark .py",
            );
            return App::Jar { jar: String::new(), class_name: String::new() };
        }
        if jar.is_none() {
            self.fail(
                "jar",
                "missing: className is given but not the jar it is in",
                "set jar to the application jar's location, e.g. hdfs://nameservice1/apps/etl.jar",
            );
        }
        match &class_name {
            None => self.fail(
                "className",
                "missing: a jar needs the class whose main Spark calls",
                "set className to the main class, e.g. com.example.cashflow.Main",
            ),
            Some(c) if !is_class_name(c) => self.fail(
                "className",
                format!("`{c}` is not a Java class name"),
                "use the class's fully qualified, dotted name, e.g. com.example.cashflow.Main",
            ),
            Some(_) => {}
        }
        App::Jar { jar: jar.unwrap_or_default(), class_name: class_name.unwrap_or_default() }
    }

    fn job_config(&mut self, node: &Node, rel: &str) -> JobConfig {
        const FIELDS: [&str; 10] = [
            "args",
            "dependencies",
            "driverCores",
            "driverMemory",
            "executorCores",
            "executorMemory",
            "numExecutors",
            "logLevel",
            "conf",
            "schedule",
        ];
        self.closed(node, rel, "jobConfig", &FIELDS);
        let mut config = JobConfig {
            args: self.texts(node, rel, "args", r#"["--run-date", "today"]"#),
            dependencies: self.texts(node, rel, "dependencies", "[hdfs://nameservice1/apps/lib.jar]"),
            driver_cores: self.count(node, rel, "driverCores", "cores"),
            driver_memory: self.memory(node, rel, "driverMemory"),
            executor_cores: self.count(node, rel, "executorCores", "cores"),
            executor_memory: self.memory(node, rel, "executorMemory"),
            num_executors: self.count(node, rel, "numExecutors", "executors"),
            log_level: None,
            conf: BTreeMap::new(),
            schedule: None,
        };
        if let Some(level) = self.text(node, rel, "logLevel", None) {
            if LOG_LEVELS.contains(&level.to_uppercase().as_str()) {
                config.log_level = Some(level);
            } else {
                self.fail(
                    &join(rel, "logLevel"),
                    format!("`{level}` is not a Spark log level"),
                    format!("use one of {}", LOG_LEVELS.join(", ")),
                );
            }
        }
        config.conf = self.conf(node, rel);
        let (schedule_rel, schedule) = self.child(node, rel, "schedule");
        config.schedule = match schedule {
            None => None,
            Some(s @ Node { value: Value::Map(_), .. }) => self.schedule(s, &schedule_rel),
            Some(other) => {
                self.fail(
                    &schedule_rel,
                    format!("expected a mapping, found {}", other.kind()),
                    r#"write schedule: {cronExpression: "0 0 2 * * ?"} (startDate and endDate optional), or leave it out to fire the job by hand"#,
                );
                None
            }
        };
        config
    }

    fn conf(&mut self, node: &Node, parent_rel: &str) -> BTreeMap<String, String> {
        let (rel, conf) = self.child(node, parent_rel, "conf");
        let mut out = BTreeMap::new();
        let Some(conf) = conf else { return out };
        let Value::Map(entries) = &conf.value else {
            self.fail(
                &rel,
                format!("expected a mapping of Spark properties, found {}", conf.kind()),
                r#"write conf as a mapping, e.g. conf: {spark.sql.shuffle.partitions: "200"}"#,
            );
            return out;
        };
        for (key, value) in entries {
            let name = key.text().unwrap_or_default();
            let key_rel = join(&rel, &name);
            if name.trim().is_empty() || name.contains(char::is_whitespace) {
                self.locs.at.insert(key_rel.clone(), (key.line, key.column));
                self.fail(
                    &key_rel,
                    format!("`{name}` is not a Spark property name"),
                    "property names have no spaces, e.g. spark.sql.shuffle.partitions",
                );
                continue;
            }
            self.locs.at.insert(key_rel.clone(), (value.line, value.column));
            match value.text() {
                Some(text) => {
                    out.insert(name, text);
                }
                None => self.fail(
                    &key_rel,
                    format!("expected a single value, found {}", value.kind()),
                    format!(r#"give the property a value, e.g. {name}: "200""#),
                ),
            }
        }
        out
    }

    fn schedule(&mut self, node: &Node, rel: &str) -> Option<ScheduleSpec> {
        self.closed(node, rel, "schedule", &["cronExpression", "startDate", "endDate"]);
        let expression = self.text(
            node,
            rel,
            "cronExpression",
            Some(r#"set cronExpression to a Quartz expression, e.g. "0 0 2 * * ?" (02:00 every day), or remove schedule to fire the job by hand"#),
        );
        if let Some(expression) = &expression
            && let Err(e) = Cron::parse(expression)
        {
            self.fail(
                &join(rel, "cronExpression"),
                e.to_string(),
                "write a Quartz cron expression: seconds minutes hours day-of-month month day-of-week [year], \
                 with `?` in one of the two day fields, e.g. \"0 0 2 * * ?\" for 02:00 every day",
            );
        }
        let mut date = |key: &str| {
            let text = self.text(node, rel, key, None)?;
            match parse_date(&text) {
                Ok(_) => Some(text),
                Err(why) => {
                    self.fail(&join(rel, key), format!("`{text}` is not a date and time: {why}"), format!(
                        "write an RFC 3339 instant with its offset, e.g. {key}: \"2024-06-01T00:00:00Z\" (UTC) or \"2024-06-01T02:00:00+02:00\""
                    ));
                    None
                }
            }
        };
        let start_date = date("startDate");
        let end_date = date("endDate");
        // A missing expression is reported above; the dates are still checked against each other.
        Some(ScheduleSpec { cron_expression: expression.unwrap_or_default(), start_date, end_date })
    }
}

/// Parses an RFC 3339 instant (`yyyy-MM-ddTHH:mm:ssZ` is one) into epoch milliseconds.
pub(crate) fn parse_date(text: &str) -> Result<i64, String> {
    text.trim().parse::<jiff::Timestamp>().map(|t| t.as_millisecond()).map_err(|e| e.to_string())
}

/// Spark's log levels (`spark.log.level`).
pub(crate) const LOG_LEVELS: [&str; 8] = ["ALL", "DEBUG", "ERROR", "FATAL", "INFO", "OFF", "TRACE", "WARN"];

/// A JVM memory size, as Spark reads one: digits and an optional unit (`512m`, `2g`, `1gb`).
pub(crate) fn is_memory(text: &str) -> bool {
    let digits = text.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &text[digits.len()..];
    !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit())
        && ["", "k", "kb", "m", "mb", "g", "gb", "t", "tb"].contains(&unit.to_lowercase().as_str())
}

/// A dotted Java class name (`com.example.Main`, `Main$Inner`).
pub(crate) fn is_class_name(name: &str) -> bool {
    !name.is_empty()
        && name.split('.').all(|part| {
            let mut chars = part.chars();
            chars.next().is_some_and(|c| c.is_alphabetic() || c == '_' || c == '$')
                && chars.all(|c| c.is_alphanumeric() || c == '_' || c == '$')
        })
}

/// The known name `name` most likely meant: same letters ignoring case, or at most two edits.
fn closest<'k>(name: &str, known: &[&'k str]) -> Option<&'k str> {
    let lower = name.to_lowercase();
    known
        .iter()
        .map(|k| (k, distance(&lower, &k.to_lowercase())))
        .filter(|(_, d)| *d <= 2)
        .min_by_key(|(_, d)| *d)
        .map(|(k, _)| *k)
}

fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested() {
        assert_eq!(closest("jobconfig", &["jobName", "jobConfig"]), Some("jobConfig"));
        assert_eq!(closest("driverMemroy", &["driverMemory", "driverCores"]), Some("driverMemory"));
        assert_eq!(closest("cdeService", &["jobName", "jar"]), None);
    }

    #[test]
    fn memory_sizes_and_class_names() {
        for ok in ["512m", "2g", "2G", "1gb", "1024"] {
            assert!(is_memory(ok), "{ok}");
        }
        for bad in ["2 g", "g", "2x", "-1g", ""] {
            assert!(!is_memory(bad), "{bad}");
        }
        assert!(is_class_name("com.example.Main$Inner"));
        assert!(!is_class_name("com.example.") && !is_class_name("1com.Main"));
    }

    #[test]
    fn dates_are_rfc3339() {
        assert_eq!(parse_date("1970-01-01T00:00:01Z"), Ok(1000));
        assert_eq!(parse_date("1970-01-01T02:00:00+02:00"), Ok(0));
        assert!(parse_date("2024-06-01").is_err());
        assert!(parse_date("2024-06-01T00:00:00").is_err());
    }
}
