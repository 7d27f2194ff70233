//! Spark applications behind one lifecycle: submit → id, status (with Spark's
//! application id), a log tail, kill.
//!
//! [`AppSpec`] describes an application once; [`spark_submit_args`] is the one
//! place its fields become a `spark-submit` command line, and each backend
//! implements [`Launcher`]. Backends: [`LocalLauncher`] (`spark-submit --master
//! local[N]`), [`StandaloneLauncher`] (the master's REST submission server) and
//! [`YarnLauncher`] (spark-submit in YARN cluster mode, then the ResourceManager's REST API).
//! [`KubernetesLauncher`] (a `SparkApplication` for the Kubernetes Spark Operator).
//! [`LivyLauncher`] (Apache Livy's `/batches`).

mod app_id;
mod driver_error;
mod driver_python;
mod installed;
mod kerberos;
mod kind;
mod kubernetes;
mod launcher;
mod livy;
mod local;
mod spec;
mod standalone;
mod submit;
mod yarn;

pub use app_id::find_app_id;
pub use driver_error::{driver_error, driver_error_in};
pub use driver_python::{
    DRIVER_PYTHON_PROPERTY, PYSPARK_DRIVER_LAUNCHER, default_python_properties, launch_driver_python_with,
};
pub use installed::{InstalledSpark, installed_pyspark, tool_cache};
pub use kind::{RunPolicy, SparkKind, SubmitObserver, policy_from_data, spec_from_data};
pub use kubernetes::{
    KubernetesConfig, KubernetesLauncher, application_status, operator_state, spark_application,
    spark_application_resource,
};
pub use launcher::{
    AppState, AppStatus, BackendKind, Launcher, SparkError, Submission, wait_until_final, wait_until_final_observed,
};
pub use livy::{LivyAuth, LivyConfig, LivyLauncher, batch_request};
pub use local::{LocalConfig, LocalLauncher};
pub use spec::{AppResource, AppSpec, PodExtras, SpecError, run_key};
pub use standalone::{StandaloneConfig, StandaloneLauncher, create_request};
pub use submit::spark_submit_args;
pub use yarn::{YarnConfig, YarnLauncher, is_yarn_conf_dir, rm_web_urls, yarn_state};
