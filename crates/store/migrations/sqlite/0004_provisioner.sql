-- Area: provisioner. Components provisioned from Witboost descriptors (which job each
-- became, its descriptor and access list) and the durable tokens of asynchronous
-- operations. Times are epoch ms. No foreign key to consort_jobs: deleting a job through
-- the scheduler's API stays as it was; the component then names a job that is gone.
CREATE TABLE consort_provisioned_components (
    component_id     TEXT   PRIMARY KEY,
    data_product_id  TEXT   NOT NULL,
    environment      TEXT   NOT NULL,
    job_group        TEXT   NOT NULL,
    job_name         TEXT   NOT NULL,
    descriptor       TEXT   NOT NULL,
    acl              TEXT   NOT NULL,
    created_ms       BIGINT NOT NULL,
    updated_ms       BIGINT NOT NULL,
    UNIQUE (job_group, job_name)
);

CREATE TABLE consort_provisioner_tasks (
    token         TEXT   PRIMARY KEY,
    kind          TEXT   NOT NULL,
    state         TEXT   NOT NULL,
    component_id  TEXT,
    request       TEXT   NOT NULL,
    result        TEXT,
    instance      TEXT,
    created_ms    BIGINT NOT NULL,
    updated_ms    BIGINT NOT NULL
);
CREATE INDEX consort_provisioner_tasks_running ON consort_provisioner_tasks (instance, created_ms) WHERE state = 'RUNNING';
