//! consort-store (work in progress).
