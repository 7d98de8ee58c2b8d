//! HAProxy's statistics (`show stat`, CSV) and the servers of a backend
//! (`show servers state`), read by the names of their columns.

/// One server's counters, from `show stat`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServerCounters {
    /// Requests the balancer sent to the server: `lbtot` (`stot` counts
    /// every connection retry too).
    pub requests: u64,
    /// 5xx answers of the server (`hrsp_5xx`), and the requests HAProxy
    /// answered itself for it: failed connections (`econ`) and failed
    /// responses (`eresp`).
    pub errors: u64,
}

/// The servers of `backend` in `show stat`'s CSV, by name.
pub fn parse_stat(csv: &str, backend: &str) -> Vec<(String, ServerCounters)> {
    let mut lines = csv.lines();
    let Some(header) = lines.next().and_then(|h| h.strip_prefix("# ")) else {
        return Vec::new();
    };
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(lbtot), Some(h5), Some(econ), Some(eresp)) = (
        col("pxname"),
        col("svname"),
        col("lbtot"),
        col("hrsp_5xx"),
        col("econ"),
        col("eresp"),
    ) else {
        return Vec::new();
    };
    let num = |f: &[&str], i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    lines
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|f| f.get(px) == Some(&backend))
        .filter(|f| !matches!(f.get(sv), Some(&"FRONTEND" | &"BACKEND") | None))
        .map(|f| {
            (
                f[sv].to_owned(),
                ServerCounters {
                    requests: num(&f, lbtot),
                    errors: num(&f, h5) + num(&f, econ) + num(&f, eresp),
                },
            )
        })
        .collect()
}

/// The `cookie` column of `backend`'s rows in `show stat`'s CSV, by
/// `svname`: the cookie's name on the `BACKEND` row (empty when the
/// backend sets none), each server's value on its own.
pub fn parse_cookies(csv: &str, backend: &str) -> Vec<(String, String)> {
    let mut lines = csv.lines();
    let Some(header) = lines.next().and_then(|h| h.strip_prefix("# ")) else {
        return Vec::new();
    };
    let cols: Vec<&str> = header.split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let (Some(px), Some(sv), Some(cookie)) = (col("pxname"), col("svname"), col("cookie")) else {
        return Vec::new();
    };
    lines
        .map(|l| l.split(',').collect::<Vec<&str>>())
        .filter(|f| f.get(px) == Some(&backend))
        .filter_map(|f| Some((f.get(sv)?.to_string(), f.get(cookie)?.to_string())))
        .collect()
}

/// One server of a backend, from `show servers state <backend>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerState {
    pub name: String,
    /// `srv_admin_state`: 0x01 forced, 0x02 inherited, 0x04 configured and
    /// 0x20 resolution maintenance (0x08 and 0x10 are drain).
    pub admin_state: u32,
    pub weight: u32,
}

impl ServerState {
    /// Put in maintenance (by `set server … state maint` or as a dynamic
    /// server not enabled yet).
    pub fn in_maintenance(&self) -> bool {
        self.admin_state & 0x27 != 0
    }
}

/// The servers of `show servers state`'s answer (its second line names
/// the columns).
pub fn parse_servers_state(text: &str) -> Result<Vec<ServerState>, String> {
    let mut lines = text.lines();
    let header = lines
        .find(|l| l.starts_with("# "))
        .ok_or_else(|| format!("unexpected answer: {}", text.trim()))?;
    let cols: Vec<&str> = header[2..].split_whitespace().collect();
    let col = |name: &str| {
        cols.iter()
            .position(|c| *c == name)
            .ok_or_else(|| format!("no column {name} in `show servers state`"))
    };
    let (name, admin, weight) = (
        col("srv_name")?,
        col("srv_admin_state")?,
        col("srv_uweight")?,
    );
    Ok(lines
        .map(|l| l.split_whitespace().collect::<Vec<&str>>())
        .filter(|f| f.len() > name.max(admin).max(weight))
        .map(|f| ServerState {
            name: f[name].to_owned(),
            admin_state: f[admin].parse().unwrap_or(0),
            weight: f[weight].parse().unwrap_or(0),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_rows_of_the_backend_are_read_by_column_name() {
        let csv = "# pxname,svname,qcur,stot,econ,eresp,hrsp_5xx,lbtot,\n\
                   fe,FRONTEND,0,9,,,0,,\n\
                   web,zion-1.0-127.0.0.1-8001,0,130,1,2,7,120,\n\
                   web,BACKEND,0,120,1,2,7,120,\n\
                   api,zion-1.0-127.0.0.1-9001,0,5,0,0,0,5,\n";
        assert_eq!(
            parse_stat(csv, "web"),
            vec![(
                "zion-1.0-127.0.0.1-8001".to_owned(),
                ServerCounters {
                    requests: 120,
                    errors: 10
                }
            )]
        );
        assert!(parse_stat("Unknown command.\n", "web").is_empty());
    }

    #[test]
    fn cookies_are_read_by_server_and_backend() {
        let csv = "# pxname,svname,lbtot,cookie,\n\
                   web,zion-a,3,8cd37af4b7bb84b9,\n\
                   web,zion-b,0,,\n\
                   web,BACKEND,3,ZION,\n\
                   api,BACKEND,0,,\n";
        assert_eq!(
            parse_cookies(csv, "web"),
            vec![
                ("zion-a".to_owned(), "8cd37af4b7bb84b9".to_owned()),
                ("zion-b".to_owned(), String::new()),
                ("BACKEND".to_owned(), "ZION".to_owned()),
            ]
        );
        assert!(parse_cookies("No such backend.\n", "web").is_empty());
    }

    #[test]
    fn servers_state_reads_names_weights_and_maintenance() {
        let text = "1\n# be_id be_name srv_id srv_name srv_addr srv_op_state srv_admin_state srv_uweight srv_iweight\n\
                    3 web 1 zion-a 127.0.0.1 2 0 200 1\n\
                    3 web 2 zion-b 127.0.0.1 0 1 0 1\n";
        let s = parse_servers_state(text).unwrap();
        assert_eq!(s.len(), 2);
        assert!(!s[0].in_maintenance());
        assert_eq!(s[0].weight, 200);
        assert!(s[1].in_maintenance());
        assert!(parse_servers_state("Can't find backend.\n").is_err());
    }
}
