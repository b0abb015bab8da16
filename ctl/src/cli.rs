//! The command line: every command, flag and help text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "\
Exit codes:
  0  success
  1  the agent or the daemon reported an error (the turn failed or was cancelled)
  2  usage error (bad flags or arguments)
  3  the daemon is not running or cannot be reached
  4  a tool call needed an approval and was denied (or is still waiting)

Environment:
  LETTA_DAEMON_DATA_DIR  which daemon to talk to (default ~/.letta/daemon)
  LETTA_AGENT_ID         default for --agent
  NO_COLOR               plain output";

/// Talk to letta-daemon: run agent turns from scripts, watch and steer
/// them from any terminal, and manage the daemon itself.
#[derive(Debug, Parser)]
#[command(name = "letta-ctl", version, after_help = EXIT_CODES)]
pub struct Cli {
    /// Data directory of the daemon to talk to.
    #[arg(long, global = true, env = "LETTA_DAEMON_DATA_DIR", value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Print machine-readable JSON instead of text (listings and status).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start, stop and inspect the daemon, or install it as a service.
    #[command(subcommand)]
    Daemon(DaemonCommand),
    /// List, show, create and delete agents.
    #[command(subcommand)]
    Agents(AgentsCommand),
    /// List and read conversations.
    #[command(subcommand)]
    Conversations(ConversationsCommand),
    /// Send one prompt to an agent and print what it does, like `letta -p`.
    Run(RunArgs),
    /// Watch a runtime live, after replaying what happened since this
    /// terminal last looked; answers approvals on a terminal.
    Attach(AttachArgs),
    /// Allow a pending tool call.
    Approve(AnswerArgs),
    /// Deny a pending tool call.
    Deny(AnswerArgs),
    /// Cancel a runtime's running turn.
    Abort(TargetArgs),
    /// Print a runtime's events as JSON lines.
    Events(EventsArgs),
    /// The MCP servers the daemon runs for its agents.
    #[command(subcommand)]
    Mcp(McpCommand),
    /// Speak the Agent Client Protocol on stdin/stdout, for editors (Zed,
    /// JetBrains, Neovim, Emacs): sessions are the daemon's conversations,
    /// so turns outlive the editor and reopen where they stood.
    Acp(AcpArgs),
    /// Print a shell completion script.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Subcommand)]
pub enum DaemonCommand {
    /// Launch letta-daemon in the background and wait until it is ready.
    Start {
        /// The letta-daemon executable [default: next to letta-ctl, else on PATH].
        #[arg(long, value_name = "PATH")]
        daemon_bin: Option<PathBuf>,
        /// Longest wait for the daemon to become ready, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Stop the running daemon (its turns resume at the next start).
    Stop {
        /// Longest wait for the daemon to exit, in seconds.
        #[arg(long, default_value_t = 30)]
        timeout: u64,
    },
    /// Version, uptime, sockets, runtimes, active turns, pending approvals.
    Status,
    /// Print the log of a daemon started by `daemon start`.
    Logs {
        /// Only the last N lines.
        #[arg(short = 'n', long, value_name = "N")]
        lines: Option<usize>,
        /// Keep printing lines as they are written.
        #[arg(short, long)]
        follow: bool,
    },
    /// Run the daemon as a user service (systemd --user on Linux, launchd
    /// on macOS) that starts at login and restarts on failure.
    InstallService {
        /// Print the service file instead of installing it.
        #[arg(long)]
        print: bool,
        /// Write the service file without enabling or starting it.
        #[arg(long)]
        no_start: bool,
        /// The letta-daemon executable [default: next to letta-ctl, else on PATH].
        #[arg(long, value_name = "PATH")]
        daemon_bin: Option<PathBuf>,
    },
    /// Stop and remove the user service.
    UninstallService,
}

#[derive(Debug, Subcommand)]
pub enum AgentsCommand {
    /// List agents.
    List {
        /// Only agents whose name contains this.
        #[arg(long)]
        name: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one agent.
    Show { agent_id: String },
    /// Create an agent.
    Create(NewAgentArgs),
    /// Delete an agent.
    Delete { agent_id: String },
    /// Write an agent as a Letta Agent File (.af), with its memory and
    /// history, to stdout (or --output).
    Export {
        agent_id: String,
        /// Local agents: the conversation whose history goes along
        /// [default: the agent's default conversation].
        #[arg(long)]
        conversation: Option<String>,
        #[arg(long, short)]
        output: Option<std::path::PathBuf>,
    },
    /// Create agents from a Letta Agent File (.af); prints their ids.
    Import {
        file: std::path::PathBuf,
        /// Where they go [default: the daemon's default backend].
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Local backend: use this model instead of the file's.
        #[arg(long)]
        model: Option<String>,
        /// Letta server: the embedding model the agents get.
        #[arg(long, env = "LETTA_EMBEDDING")]
        embedding: Option<String>,
    },
}

#[derive(Debug, Clone, Args)]
pub struct NewAgentArgs {
    /// Agent name [default: letta-ctl-<time>].
    #[arg(long)]
    pub name: Option<String>,
    /// Model handle, e.g. `openai/gpt-4.1`; it must be one the backend
    /// offers [default: the backend's default model].
    #[arg(long, env = "LETTA_MODEL")]
    pub model: Option<String>,
    /// Embedding model handle.
    #[arg(long, env = "LETTA_EMBEDDING")]
    pub embedding: Option<String>,
    /// Where the agent lives: `local` (the daemon itself) or `api` (the
    /// Letta server) [default: the daemon's default backend].
    #[arg(long, value_enum)]
    pub backend: Option<BackendArg>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendArg {
    Local,
    Api,
}

impl BackendArg {
    pub fn protocol(self) -> letta_protocol::Backend {
        match self {
            BackendArg::Local => letta_protocol::Backend::Local,
            BackendArg::Api => letta_protocol::Backend::Api,
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Each server with its state (starting, ready, failed and why) and
    /// its tools. Servers are configured per agent in
    /// ~/.letta/settings.json and start when one of its runtimes opens.
    List,
}

#[derive(Debug, Subcommand)]
pub enum ConversationsCommand {
    /// List conversations (of one agent with --agent).
    List {
        #[arg(long, env = "LETTA_AGENT_ID")]
        agent: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Show one conversation.
    Show { conversation_id: String },
    /// Print a conversation's messages, oldest first.
    Messages {
        conversation_id: String,
        /// The agent, for its default conversation.
        #[arg(long, env = "LETTA_AGENT_ID")]
        agent: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Assistant text as it streams, tool calls compactly.
    Text,
    /// One result object when the turn ends.
    Json,
    /// Every event as one JSON line, then the result object.
    StreamJson,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// The prompt; `-` (or nothing) reads it from stdin. Piped stdin is
    /// appended to a prompt given here.
    pub prompt: Option<String>,
    /// The agent to talk to [default: the one this user last ran with
    /// letta-ctl on this daemon, in the same conversation; with none, a new
    /// agent on the server's default model].
    #[arg(long, env = "LETTA_AGENT_ID", conflicts_with = "new_agent")]
    pub agent: Option<String>,
    /// Create a new agent for this run (see --model, --embedding).
    #[arg(long)]
    pub new_agent: bool,
    #[command(flatten)]
    pub agent_options: NewAgentArgs,
    /// Continue this conversation [default: the agent's default one].
    #[arg(long, conflicts_with = "new")]
    pub conversation: Option<String>,
    /// Start a new conversation.
    #[arg(long)]
    pub new: bool,
    /// Working directory of the agent's tools [default: the current one].
    #[arg(long, value_name = "DIR")]
    pub cwd: Option<PathBuf>,
    /// standard, acceptEdits, unrestricted (bypassPermissions) or strict;
    /// the conversation keeps it until a run sets another [default: the
    /// conversation's, standard for a new one].
    #[arg(long, value_name = "MODE")]
    pub permission_mode: Option<String>,
    /// Rules allowing tool calls for this run, e.g. `Bash(npm test:*)`,
    /// `Edit`. Comma- or space-separated, repeatable.
    #[arg(long = "allowedTools", alias = "allowed-tools", value_name = "RULES")]
    pub allowed_tools: Vec<String>,
    /// Rules denying tool calls for this run; deny wins over allow.
    #[arg(
        long = "disallowedTools",
        alias = "disallowed-tools",
        value_name = "RULES"
    )]
    pub disallowed_tools: Vec<String>,
    /// Which local tools the agent gets: a toolset (`auto`, `default`,
    /// `codex`, `letta`, `none`) or a list of tools (`Read,Grep`).
    #[arg(long, value_name = "TOOLS")]
    pub tools: Option<String>,
    #[arg(long, value_enum, default_value_t = OutputFormat::Text)]
    pub output_format: OutputFormat,
    /// Send the prompt and exit; follow the turn later with `attach`.
    #[arg(long)]
    pub detach: bool,
    /// Fail (exit 3) instead of starting the daemon when it is not running.
    #[arg(long)]
    pub no_start: bool,
}

#[derive(Debug, Clone, Args)]
pub struct AcpArgs {
    /// The agent new sessions talk to [default: the one this user last
    /// used with letta-ctl on this daemon; with none, a new agent].
    #[arg(long, env = "LETTA_AGENT_ID")]
    pub agent: Option<String>,
    #[command(flatten)]
    pub agent_options: NewAgentArgs,
    /// Fail instead of starting the daemon when it is not running.
    #[arg(long)]
    pub no_start: bool,
}

/// Which runtime a command is about. Without flags: the most recently used
/// one; with --agent only: that agent's most recently used one.
#[derive(Debug, Clone, Args)]
pub struct TargetArgs {
    #[arg(long, env = "LETTA_AGENT_ID")]
    pub agent: Option<String>,
    #[arg(long)]
    pub conversation: Option<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Replay events after this event_seq [default: after the last one this
    /// user's terminals saw].
    #[arg(long, value_name = "N")]
    pub after: Option<u64>,
    /// Ask about approvals even when stdin is not a terminal (answers are
    /// read from stdin, one line each).
    #[arg(long)]
    pub interactive: bool,
    /// Exit when the runtime has nothing left to do.
    #[arg(long)]
    pub until_idle: bool,
}

#[derive(Debug, Args)]
pub struct AnswerArgs {
    /// The request id, `perm-<tool_call_id>`.
    pub request_id: String,
    /// A reason for the agent (deny), or a note (approve).
    #[arg(long, short)]
    pub message: Option<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only events after this event_seq [default: all kept].
    #[arg(long, value_name = "N")]
    pub after: Option<u64>,
    /// Keep printing events as they happen.
    #[arg(short, long)]
    pub follow: bool,
}
