//! `consort tokens` and `consort audit`: HTTP clients of a running server's
//! `/v1/tokens` and `/v1/audit` (admins only).

use std::process::ExitCode;

use anyhow::bail;
use reqwest::Method;
use serde_json::{Value, json};

use crate::cli::{AuditCommand, RemoteArgs, TokensCommand};
use crate::cmd::remote::{run, s, segment};

/// `90d`, `12h`, `30m`, `45s` or plain seconds → seconds; errors name `option`.
pub(crate) fn parse_duration(option: &str, text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let (digits, unit) = text.split_at(text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len()));
    let n: u64 = match digits.parse() {
        Ok(n) if n > 0 => n,
        _ => bail!("{option} {text:?}: give a positive number with a unit, e.g. 3600s, 90m, 12h or 30d"),
    };
    let scale = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        other => bail!("{option} {text:?}: unknown unit {other:?}; use s, m, h or d"),
    };
    n.checked_mul(scale).ok_or_else(|| anyhow::anyhow!("{option} {text:?} is too long"))
}

fn print_tokens(v: &Value) {
    println!("{:<18} {:<24} {:<22} {:<8} {:<22} LAST USED", "ID", "NAME", "ROLES", "STATE", "EXPIRES");
    for t in v["items"].as_array().into_iter().flatten() {
        let roles: Vec<String> = t["roles"].as_array().into_iter().flatten().map(s).collect();
        println!(
            "{:<18} {:<24} {:<22} {:<8} {:<22} {}",
            s(&t["id"]),
            s(&t["name"]),
            roles.join(","),
            s(&t["state"]),
            s(&t["expires_at"]),
            s(&t["last_used_at"])
        );
    }
}

pub fn tokens(args: RemoteArgs<TokensCommand>) -> anyhow::Result<ExitCode> {
    run(args, async |c, command| {
        match command {
            TokensCommand::Create { name, roles, expires_in } => {
                let mut body = json!({"name": name, "roles": roles});
                if let Some(text) = expires_in {
                    body["expires_in_secs"] = json!(parse_duration("--expires-in", &text)?);
                }
                let v = c.call(Method::POST, "/v1/tokens", Some(body)).await?;
                c.print(&v, |v| {
                    println!("{}", s(&v["secret"]));
                    eprintln!(
                        "token {} ({}) created; the secret above is shown only now: store it safely",
                        s(&v["id"]),
                        s(&v["name"])
                    );
                });
            }
            TokensCommand::List => {
                let v = c.call(Method::GET, "/v1/tokens", None).await?;
                c.print(&v, print_tokens);
            }
            TokensCommand::Revoke { id_or_name } => {
                let v = c.call(Method::POST, &format!("/v1/tokens/{}/revoke", segment(&id_or_name)), None).await?;
                c.print(&v, |v| println!("revoked {} ({})", s(&v["id"]), s(&v["name"])));
            }
        }
        Ok(())
    })
}

pub fn audit(args: RemoteArgs<AuditCommand>) -> anyhow::Result<ExitCode> {
    run(args, async |c, command| {
        let AuditCommand::List { principal, refused, limit } = command;
        let mut query = vec![format!("limit={limit}")];
        if let Some(p) = principal {
            query.push(format!("principal={}", segment(&p)));
        }
        if refused {
            query.push("refused=true".into());
        }
        let v = c.call(Method::GET, &format!("/v1/audit?{}", query.join("&")), None).await?;
        c.print(&v, |v| {
            println!(
                "{:<24} {:<28} {:<22} {:<7} {:<40} {:<6} OUTCOME",
                "AT", "PRINCIPAL", "FROM", "METHOD", "PATH", "STATUS"
            );
            for r in v["items"].as_array().into_iter().flatten() {
                println!(
                    "{:<24} {:<28} {:<22} {:<7} {:<40} {:<6} {}",
                    s(&r["at"]),
                    s(&r["principal"]),
                    s(&r["remote"]),
                    s(&r["method"]),
                    s(&r["path"]),
                    s(&r["status"]),
                    s(&r["outcome"])
                );
            }
        });
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("--expires-in", "3600").unwrap(), 3600);
        assert_eq!(parse_duration("--expires-in", "90m").unwrap(), 5400);
        assert_eq!(parse_duration("--expires-in", "30d").unwrap(), 2_592_000);
        for bad in ["", "0s", "-1h", "10w", "h"] {
            assert!(parse_duration("--expires-in", bad).is_err(), "{bad}");
        }
    }
}
