//! CPU time and memory of another process, read from Linux's /proc, plus sending it
//! a signal: what an operator's `ps`/`top` would show, without a libc binding.

use anyhow::{bail, Context};

/// A process's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// User + system CPU time since the process started, seconds.
    pub cpu_seconds: f64,
    /// Peak resident set (VmHWM), KiB.
    pub peak_rss_kib: u64,
    /// Current resident set (VmRSS), KiB, and its anonymous (heap, stacks) and
    /// file-backed (the binary's pages) parts.
    pub rss_kib: u64,
    pub rss_anon_kib: u64,
    pub rss_file_kib: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`.
pub fn sample(pid: u32, clock_ticks: u64) -> anyhow::Result<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .with_context(|| format!("reading /proc/{pid}/stat"))?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let ticks = stat_times(&stat)
        .context("an unexpected /proc/<pid>/stat")?
        .own;
    Ok(Sample {
        cpu_seconds: ticks as f64 / clock_ticks.max(1) as f64,
        peak_rss_kib: kib(&status, "VmHWM").context("no VmHWM in /proc/<pid>/status")?,
        rss_kib: kib(&status, "VmRSS").context("no VmRSS in /proc/<pid>/status")?,
        rss_anon_kib: kib(&status, "RssAnon").unwrap_or(0),
        rss_file_kib: kib(&status, "RssFile").unwrap_or(0),
    })
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on every Linux this runs on).
pub fn clock_ticks() -> u64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .and_then(|text| text.trim().parse().ok())
        .unwrap_or(100)
}

/// The CPU ticks of one `/proc/<pid>/stat` line, and whose they are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatTimes<'a> {
    /// The command name (field 2).
    pub command: &'a str,
    /// utime + stime (fields 14 and 15): the process's own.
    pub own: u64,
    /// cutime + cstime (fields 16 and 17): its children's that it has reaped.
    pub reaped: u64,
}

/// Reads a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses
/// and may hold spaces and parentheses, so fields are counted after the last `)`.
pub fn stat_times(stat: &str) -> Option<StatTimes<'_>> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let command = stat.get(open + 1..close)?;
    let fields: Vec<&str> = stat.get(close + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 (state): utime, stime, cutime, cstime are 14 to 17.
    let number = |i: usize| fields.get(i)?.parse::<u64>().ok();
    Some(StatTimes {
        command,
        own: number(11)? + number(12)?,
        reaped: number(13)? + number(14)?,
    })
}

/// The value in KiB of a `Name:   1234 kB` line of `/proc/<pid>/status`.
pub fn kib(status: &str, name: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
}

/// Sends `signal` (e.g. `TERM`, `INT`) with `kill`, the way an orchestrator would.
pub async fn signal(pid: u32, signal: &str) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .await
        .context("running kill")?;
    if !status.success() {
        bail!("kill -{signal} {pid} failed ({status})");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_ticks_are_user_plus_system_even_with_a_strange_command_name() {
        let stat = "4242 (id2 meta) worker) S 1 4242 4242 0 -1 4194560 1234 0 0 0 \
                    700 300 0 0 20 0 9 0 5000 123456789 4000 18446744073709551615";
        let times = stat_times(stat).unwrap();
        assert_eq!((times.command, times.own), ("id2 meta) worker", 1000));
        let nested = stat_times("7 (beam (smp) x) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 9 0 0");
        assert_eq!(
            nested.map(|t| (t.command, t.own)),
            Some(("beam (smp) x", 7))
        );
        assert_eq!(stat_times("4242 (x) S 1"), None);
        assert_eq!(stat_times("no parenthesis"), None);
    }

    #[test]
    fn a_stat_line_gives_its_own_and_its_reaped_childrens_ticks() {
        let line = "4242 (postgres) S 1 4242 4242 0 -1 4194560 100 0 0 0 17 5 30 8 20 0 1 0 9 0 0";
        let times = stat_times(line).unwrap();
        assert_eq!(
            (times.command, times.own, times.reaped),
            ("postgres", 22, 38)
        );
    }

    #[test]
    fn kib_reads_the_named_line_only() {
        let status =
            "Name:\tid2meta\nVmPeak:\t  99999 kB\nVmHWM:\t   18432 kB\nVmRSS:\t   17000 kB\n";
        assert_eq!(kib(status, "VmHWM"), Some(18432));
        assert_eq!(kib(status, "VmRSS"), Some(17000));
        assert_eq!(kib(status, "VmSwap"), None);
    }

    #[test]
    fn this_process_can_be_sampled() {
        let me = sample(std::process::id(), clock_ticks()).unwrap();
        assert!(me.peak_rss_kib >= me.rss_kib && me.rss_kib > 0);
        assert!(me.cpu_seconds >= 0.0);
    }
}
