//! Commands run in the background with `run_in_background`: their output
//! goes to a file, and they are listed and supervised with the runtime's
//! other [`BackgroundJobs`](crate::tools::BackgroundJobs).

use std::process::Stdio;
use std::time::Duration;

use super::output::file_safe;
use super::shell;
use crate::tools::{BackgroundJob, ToolContext, ToolOutput};

pub(super) fn start_background(
    command_line: &str,
    timeout: Option<Duration>,
    context: &ToolContext,
) -> Result<ToolOutput, String> {
    std::fs::create_dir_all(&context.output_dir)
        .map_err(|err| format!("cannot create {}: {err}", context.output_dir.display()))?;
    let id = format!("bash-{}", file_safe(&context.tool_call_id));
    let output_file = context.output_dir.join(format!("{id}.log"));
    let file = std::fs::File::create(&output_file)
        .map_err(|err| format!("cannot create {}: {err}", output_file.display()))?;
    let stderr = file
        .try_clone()
        .map_err(|err| format!("cannot share {}: {err}", output_file.display()))?;
    let mut command = shell(command_line, &context.cwd);
    command
        .stdout(Stdio::from(file))
        .stderr(Stdio::from(stderr))
        .kill_on_drop(false);
    let child = command
        .spawn()
        .map_err(|err| format!("cannot start bash: {err}"))?;
    let pid = child.id();
    let job = BackgroundJob::running(id.clone(), "bash", command_line, pid, output_file.clone());
    context
        .jobs
        .start(job, child, timeout, context.cancel.clone())?;
    Ok(ToolOutput::ok(format!(
        "Started in the background as {id} (pid {}). Its output goes to {}; the job is listed \
         under background_processes in the device status with its exit code when it ends. It is \
         stopped when its timeout (if one was given) runs out, when this turn is aborted, and \
         when the daemon stops.",
        pid.map_or_else(|| "unknown".to_owned(), |pid| pid.to_string()),
        output_file.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::super::{BashArgs, run};
    use super::*;
    use crate::tools::BackgroundJobs;
    use crate::tools::jobs::MAX_BACKGROUND_JOBS;

    fn background(command: &str, timeout: Option<f64>) -> BashArgs {
        BashArgs::new(command, timeout, true)
    }

    /// Waits until job `index` has ended.
    async fn wait_exited(jobs: &BackgroundJobs, index: usize) {
        tokio::time::timeout(Duration::from_secs(10), async {
            while jobs.list()[index].status != "exited" {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn background_commands_end_with_their_timeout_abort_or_shutdown() {
        let dir = tempfile::tempdir().unwrap();
        // Timeout: the group goes, the child it started too.
        let ctx = ToolContext::in_dir(dir.path());
        let marker = dir.path().join("after-timeout");
        let command = format!("(sleep 2; touch {}) & sleep 30", marker.display());
        run(background(&command, Some(300.0)), &ctx).await.unwrap();
        wait_exited(&ctx.jobs, 0).await;
        // Abort of the turn that started it.
        let ctx = ToolContext::in_dir(dir.path());
        run(background("sleep 30", None), &ctx).await.unwrap();
        ctx.cancel.cancel();
        wait_exited(&ctx.jobs, 0).await;
        // The daemon stopping.
        let ctx = ToolContext::in_dir(dir.path());
        run(background("sleep 30", None), &ctx).await.unwrap();
        ctx.jobs.kill_all().await;
        wait_exited(&ctx.jobs, 0).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(
            !marker.exists(),
            "the timed-out command's child was killed too"
        );
    }

    #[tokio::test]
    async fn background_jobs_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ToolContext::in_dir(dir.path());
        for _ in 0..MAX_BACKGROUND_JOBS {
            run(background("sleep 30", None), &ctx).await.unwrap();
        }
        let refused = run(background("sleep 30", None), &ctx).await.unwrap_err();
        assert!(
            refused.contains("background processes are running"),
            "{refused}"
        );
        ctx.jobs.kill_all().await;
        assert_eq!(ctx.jobs.list().len(), MAX_BACKGROUND_JOBS);
    }

    #[tokio::test]
    async fn background_commands_report_their_end() {
        let dir = tempfile::tempdir().unwrap();
        let ctx = ToolContext::in_dir(dir.path());
        let out = run(background("echo from-the-background; exit 4", None), &ctx)
            .await
            .unwrap();
        assert!(
            out.text.contains("Started in the background"),
            "{}",
            out.text
        );
        wait_exited(&ctx.jobs, 0).await;
        let job = &ctx.jobs.list()[0];
        assert_eq!(job.exit_code, Some(4));
        let output = std::fs::read_to_string(&job.output_file).unwrap();
        assert_eq!(output, "from-the-background\n");
    }
}
