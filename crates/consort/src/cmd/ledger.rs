//! `consort ledger ...`: a clean room's ledger. `export`, `public-key` and `receipt` ask the
//! server; `verify` and `verify-receipt` work offline with only the clean room's public key.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use consort_ledger::{PublicKey, Receipt, verify_export_bytes};

use crate::cli::{LedgerCommand, RemoteArgs};
use crate::cmd::remote::{self, segment};

pub fn run(args: RemoteArgs<LedgerCommand>) -> anyhow::Result<ExitCode> {
    // The offline commands never build a client nor need a server.
    match &args.command {
        LedgerCommand::Verify { file, public_key } => return verify(file, public_key),
        LedgerCommand::VerifyReceipt { file, public_key } => return verify_receipt(file, public_key),
        _ => {}
    }
    remote::run(args, async |client, command| {
        let (path, out) = match command {
            LedgerCommand::Export { name, out } => (format!("/v1/cleanrooms/{}/ledger/export", segment(&name)), out),
            LedgerCommand::PublicKey { name, out } => {
                (format!("/v1/cleanrooms/{}/ledger/public-key", segment(&name)), out)
            }
            LedgerCommand::Receipt { name, seq, out } => {
                (format!("/v1/cleanrooms/{}/ledger/receipts/{seq}", segment(&name)), out)
            }
            LedgerCommand::Verify { .. } | LedgerCommand::VerifyReceipt { .. } => unreachable!("answered above"),
        };
        let bytes = client.get_bytes(&path).await?;
        write_out(out.as_deref(), &bytes)
    })
}

fn write_out(out: Option<&Path>, bytes: &[u8]) -> anyhow::Result<()> {
    match out {
        Some(path) => {
            std::fs::write(path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), bytes.len());
        }
        None => std::io::stdout().write_all(bytes).context("writing to standard output")?,
    }
    Ok(())
}

fn read_key(path: &PathBuf) -> anyhow::Result<PublicKey> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!("cannot read the public key {}; get it with `consort ledger public-key NAME`", path.display())
    })?;
    PublicKey::parse(&text).with_context(|| format!("{} is not a clean room's service public key", path.display()))
}

fn verify(file: &PathBuf, public_key: &PathBuf) -> anyhow::Result<ExitCode> {
    let key = read_key(public_key)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read the export {}", file.display()))?;
    match verify_export_bytes(&bytes, &key) {
        Ok(report) => {
            println!("{report}");
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("{e}");
            Ok(ExitCode::from(1))
        }
    }
}

fn verify_receipt(file: &PathBuf, public_key: &PathBuf) -> anyhow::Result<ExitCode> {
    let key = read_key(public_key)?;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read the receipt {}", file.display()))?;
    let receipt = match Receipt::parse(&bytes) {
        Ok(r) => r,
        Err(e) => {
            println!("{e}");
            return Ok(ExitCode::from(1));
        }
    };
    match receipt.verify(&key) {
        Ok(()) => {
            println!(
                "receipt verified: entry {} ({}) of clean room {:?} is in the ledger under the root signed at size {}",
                receipt.entry.seq, receipt.entry.kind, receipt.entry.cleanroom, receipt.root.size
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("the receipt does not verify: {e}");
            Ok(ExitCode::from(1))
        }
    }
}
