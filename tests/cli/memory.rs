//! `enqueue`'s memory bound: a 90 MB file is read in far less memory than its
//! size (see docs/benchmarks.md).

use std::io::Write;

use super::helpers::*;

#[tokio::test]
async fn enqueue_of_a_90_mb_file_stays_far_below_its_size_in_memory() {
    let config = test_config();
    // 60,000 lines of 1.5 KiB: 2,000 jobs, each line after them repeating one of them.
    let file = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .expect("a temp file");
    {
        let mut out = std::io::BufWriter::new(file.reopen().expect("the temp file"));
        for n in 0..60_000u32 {
            writeln!(out, "{}", job_line(&format!("big-{}", n % 2000), 1500)).expect("writing");
        }
        out.flush().expect("writing");
    }
    let size = std::fs::metadata(file.path()).expect("the file").len();
    assert!(size > 90_000_000, "{size} bytes");
    let path = file.path().to_str().expect("a UTF-8 temp path");

    let (output, peak_kib) = run_measured(&config, &["enqueue", path]);

    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("published 2000 jobs (58000 bad lines)"),
        "{}",
        &stderr[stderr.len().saturating_sub(500)..]
    );
    assert!(stderr.contains("line 60000: duplicate job_id of line 2000"));
    // Reading the whole file would need more than 90 MB; streaming needs a few buffers.
    assert!(
        peak_kib < 64 * 1024,
        "enqueue peaked at {} MiB over a {} MB file",
        peak_kib / 1024,
        size / 1_000_000
    );
    let connection = id2meta::queue::connect(&config.amqp_url, "test-cli")
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("a channel");
    assert_eq!(ready_count(&channel, &config.jobs_queue).await, 2000);
    delete_broker_objects(&channel, &config).await;
}
