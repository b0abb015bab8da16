//! `SetWorkingDirectory`: the agent moves its runtime's working directory.

use serde_json::{Map, Value};

use super::{Runtime, RuntimeError};
use crate::tools::ToolOutput;
use crate::util::lock;

impl Runtime {
    /// Moves the working directory to the call's `path` (already allowed),
    /// kept and announced like a frontend's `change_device_state`.
    pub(crate) async fn move_working_directory(
        &self,
        input: &Map<String, Value>,
    ) -> Result<ToolOutput, crate::store::StoreError> {
        let Some(path) = input
            .get("path")
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|path| !path.is_empty())
        else {
            return Ok(ToolOutput::error(
                "SetWorkingDirectory needs a directory path",
            ));
        };
        let cwd = lock(&self.state).cwd.clone();
        let target = crate::tools::resolve(std::path::Path::new(&cwd), path);
        let target = match std::fs::canonicalize(&target) {
            Ok(target) if target.is_dir() => target,
            Ok(target) => {
                return Ok(ToolOutput::error(format!(
                    "{} is not a directory",
                    target.display()
                )));
            }
            Err(err) => {
                return Ok(ToolOutput::error(format!(
                    "cannot work in {}: {err}",
                    target.display()
                )));
            }
        };
        let change = letta_protocol::DeviceStateChange {
            cwd: Some(target.display().to_string()),
            ..Default::default()
        };
        match self.change_device_state(change).await {
            Ok(()) => Ok(ToolOutput::ok(format!(
                "The working directory is now {}. Relative paths and commands of later calls \
                 start there; the next message describes it.",
                target.display()
            ))),
            Err(RuntimeError::Store(err)) => Err(err),
            Err(err) => Ok(ToolOutput::error(err.to_string())),
        }
    }
}
