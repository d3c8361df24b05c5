//! The process's terminal for CLI commands: hidden prompts on a TTY, lines of standard input
//! otherwise (so scripts can pipe passwords and values in, as with elasticsearch-keystore).

use std::io::{BufRead, IsTerminal, Write};

use rampart_keystore::cli::Terminal;
use zeroize::Zeroizing;

pub struct StdTerminal {
    interactive: bool,
    stdin: std::io::StdinLock<'static>,
}

impl StdTerminal {
    /// `force_stdin` reads secrets from standard input even on a terminal (`add -x`).
    pub fn new(force_stdin: bool) -> Self {
        let stdin = std::io::stdin();
        StdTerminal {
            interactive: stdin.is_terminal() && !force_stdin,
            stdin: stdin.lock(),
        }
    }
}

impl Terminal for StdTerminal {
    fn is_interactive(&self) -> bool {
        self.interactive
    }

    fn read_secret(&mut self, prompt: &str) -> Result<Zeroizing<String>, String> {
        if self.interactive {
            return rpassword::prompt_password(prompt)
                .map(Zeroizing::new)
                .map_err(|e| format!("cannot read from the terminal: {e}"));
        }
        let mut line = Zeroizing::new(String::new());
        match self.stdin.read_line(&mut line) {
            Ok(0) => Err(format!(
                "standard input ended where a value was expected ({})",
                prompt.trim().trim_end_matches(':')
            )),
            Ok(_) => Ok(Zeroizing::new(
                line.trim_end_matches(['\n', '\r']).to_string(),
            )),
            Err(e) => Err(format!("cannot read standard input: {e}")),
        }
    }

    fn confirm(&mut self, question: &str) -> Result<bool, String> {
        eprint!("{question} [y/N] ");
        let _ = std::io::stderr().flush();
        let mut line = String::new();
        self.stdin
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the terminal: {e}"))?;
        Ok(matches!(line.trim(), "y" | "Y" | "yes"))
    }

    fn print(&mut self, text: &str) {
        println!("{text}");
    }

    fn print_bytes(&mut self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    fn warn(&mut self, text: &str) {
        eprintln!("WARNING: {text}");
    }

    fn passphrase_from_file(&self) -> Result<Option<Zeroizing<String>>, String> {
        rampart_keystore::passphrase_from_env_file()
    }
}
