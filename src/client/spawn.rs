//! Starting a server process: in a process group of its own (on Linux a
//! session of its own, without a controlling terminal), with pipes for
//! stdin, stdout and stderr, and on Linux a parent-death signal.
//!
//! The parent-death signal (`PR_SET_PDEATHSIG`) must be set by the child
//! between fork and exec. `std::process::Command` can do that only through
//! `pre_exec`, which makes it `fork` instead of using `posix_spawn`'s
//! `clone(CLONE_VM | CLONE_VFORK)`: copying mcp-cli's address space made a
//! cold call 4.9% slower (600 interleaved rounds). So on Linux this module
//! does what `posix_spawn` does, with the one call more: the child shares
//! mcp-cli's memory until it execs, and runs only async-signal-safe system
//! calls on data prepared before it starts. Elsewhere, `std` spawns.

#[cfg(not(target_os = "linux"))]
use std::io;
use std::os::fd::OwnedFd;
#[cfg(not(target_os = "linux"))]
use std::path::Path;
#[cfg(target_os = "linux")]
use std::process::ExitStatus;

#[cfg(not(target_os = "linux"))]
use crate::config::Setting;

/// A started process and the parent's ends of its pipes.
#[derive(Debug)]
pub struct Child {
    #[cfg(target_os = "linux")]
    pid: libc::pid_t,
    /// How it ended, once reaped.
    #[cfg(target_os = "linux")]
    status: Option<ExitStatus>,
    #[cfg(not(target_os = "linux"))]
    inner: std::process::Child,
    /// Its stdin, to write to.
    pub stdin: Option<OwnedFd>,
    /// Its stdout, to read.
    pub stdout: Option<OwnedFd>,
    /// Its stderr, to read.
    pub stderr: Option<OwnedFd>,
}

#[cfg(not(target_os = "linux"))]
impl Child {
    /// Its process id.
    pub fn id(&self) -> u32 {
        self.inner.id()
    }

    /// Its exit status, reaping it, if it has exited.
    pub fn try_wait(&mut self) -> io::Result<Option<std::process::ExitStatus>> {
        self.inner.try_wait()
    }

    /// SIGKILL, unless it was reaped already.
    pub fn kill(&mut self) -> io::Result<()> {
        self.inner.kill()
    }
}

/// The environment a server starts from, when not mcp-cli's own (the
/// daemon starts each server with its caller's).
pub type BaseEnv<'a> = Option<&'a [(std::ffi::OsString, std::ffi::OsString)]>;

/// Starts `program` with `args` in a new process group, its environment
/// `base` (else mcp-cli's) plus `env`, in `cwd` if given. A bare `program`
/// is looked up on the `PATH` it will see.
#[cfg(not(target_os = "linux"))]
pub fn spawn(
    program: &str,
    args: &[String],
    env: &[Setting],
    cwd: Option<&Path>,
    base: BaseEnv<'_>,
) -> io::Result<Child> {
    use std::process::Stdio;
    let mut command = std::process::Command::new(program);
    if let Some(base) = base {
        command
            .env_clear()
            .envs(base.iter().map(|(name, value)| (name, value)));
    }
    command
        .args(args)
        .envs(env.iter().map(|setting| (&setting.name, &setting.value)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(cwd) = cwd {
        command.current_dir(cwd);
    }
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut inner = command.spawn()?;
    Ok(Child {
        stdin: inner.stdin.take().map(OwnedFd::from),
        stdout: inner.stdout.take().map(OwnedFd::from),
        stderr: inner.stderr.take().map(OwnedFd::from),
        inner,
    })
}

#[cfg(target_os = "linux")]
pub use linux::spawn;

#[cfg(target_os = "linux")]
mod linux {
    use std::ffi::{CString, OsStr, OsString, c_char, c_int, c_void};
    use std::io;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
    use std::os::unix::ffi::{OsStrExt, OsStringExt};
    use std::os::unix::process::ExitStatusExt;
    use std::path::Path;
    use std::process::ExitStatus;

    use super::{BaseEnv, Child};
    use crate::config::Setting;

    /// The child's stack until it execs (it uses a few hundred bytes).
    const STACK_BYTES: usize = 64 * 1024;

    /// Signals mcp-cli handles: none of its handlers may run in a child
    /// that shares its memory, so the child puts them back to default
    /// before it unblocks signals. SIGPIPE, which mcp-cli ignores, goes
    /// back to default as `std` does for its children.
    const RESET: [c_int; 6] = [
        libc::SIGINT,
        libc::SIGTERM,
        libc::SIGHUP,
        libc::SIGQUIT,
        libc::SIGALRM,
        libc::SIGPIPE,
    ];

    /// Everything the child needs, made before it starts.
    struct Plan {
        /// The files to try to execute, in order (the `PATH` lookup).
        paths: Vec<CString>,
        argv: Vec<*const c_char>,
        envp: Vec<*const c_char>,
        cwd: Option<CString>,
        /// The child's ends of its stdin, stdout and stderr pipes.
        stdio: [RawFd; 3],
        /// Where the child writes its errno when it cannot exec.
        report: RawFd,
        /// mcp-cli's pid: the child checks it still has that parent after
        /// asking for the parent-death signal.
        parent: libc::pid_t,
        /// The signal mask to exec with (mcp-cli's, before spawning).
        mask: libc::sigset_t,
    }

    impl Child {
        /// Its process id.
        pub fn id(&self) -> u32 {
            self.pid.unsigned_abs()
        }

        /// Its exit status, reaping it, if it has exited.
        pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
            if self.status.is_some() {
                return Ok(self.status);
            }
            let mut status = 0;
            // SAFETY: waitpid on our own child, with a valid status pointer.
            match unsafe { libc::waitpid(self.pid, &mut status, libc::WNOHANG) } {
                0 => Ok(None),
                pid if pid == self.pid => {
                    self.status = Some(ExitStatus::from_raw(status));
                    Ok(self.status)
                }
                _ => Err(io::Error::last_os_error()),
            }
        }

        /// SIGKILL, unless it was reaped already (its pid may be reused).
        pub fn kill(&mut self) -> io::Result<()> {
            if self.status.is_some() {
                return Ok(());
            }
            // SAFETY: kill(2) on our own unreaped child.
            if unsafe { libc::kill(self.pid, libc::SIGKILL) } != 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        }
    }

    fn c_string(bytes: impl Into<Vec<u8>>) -> io::Result<CString> {
        CString::new(bytes).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "a NUL byte in a command or its environment",
            )
        })
    }

    /// A pipe, both ends close-on-exec: `(read, write)`.
    fn pipe() -> io::Result<(OwnedFd, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: both are new descriptors that nothing else owns.
        Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
    }

    /// See [`super::spawn`].
    pub fn spawn(
        program: &str,
        args: &[String],
        env: &[Setting],
        cwd: Option<&Path>,
        base: BaseEnv<'_>,
    ) -> io::Result<Child> {
        // The environment: `base` or mcp-cli's, with `env` added or replacing.
        let base: Vec<(OsString, OsString)> = match base {
            Some(base) => base.to_vec(),
            None => std::env::vars_os().collect(),
        };
        let mut vars: Vec<(OsString, OsString)> = base
            .into_iter()
            .filter(|(name, _)| !env.iter().any(|setting| OsStr::new(&setting.name) == name))
            .collect();
        vars.extend(env.iter().map(|setting| {
            (
                OsString::from(&setting.name),
                OsString::from(&setting.value),
            )
        }));
        let path_var = vars
            .iter()
            .find(|(name, _)| name == "PATH")
            .map(|(_, value)| value.clone());
        let environment = vars
            .into_iter()
            .map(|(name, value)| {
                let mut entry = name.into_vec();
                entry.push(b'=');
                entry.extend(value.into_vec());
                c_string(entry)
            })
            .collect::<io::Result<Vec<CString>>>()?;
        let paths = candidates(program, path_var.as_deref())?;
        let arguments = std::iter::once(program)
            .chain(args.iter().map(String::as_str))
            .map(c_string)
            .collect::<io::Result<Vec<CString>>>()?;
        let cwd = cwd
            .map(|cwd| c_string(cwd.as_os_str().as_bytes()))
            .transpose()?;
        let (stdin_read, stdin_write) = pipe()?;
        let (stdout_read, stdout_write) = pipe()?;
        let (stderr_read, stderr_write) = pipe()?;
        let (report_read, report_write) = pipe()?;
        let pointers = |strings: &[CString]| {
            strings
                .iter()
                .map(|string| string.as_ptr())
                .chain(std::iter::once(std::ptr::null()))
                .collect::<Vec<_>>()
        };
        let mut plan = Plan {
            paths,
            argv: pointers(&arguments),
            envp: pointers(&environment),
            cwd,
            stdio: [
                stdin_read.as_raw_fd(),
                stdout_write.as_raw_fd(),
                stderr_write.as_raw_fd(),
            ],
            report: report_write.as_raw_fd(),
            // SAFETY: getpid has no preconditions.
            parent: unsafe { libc::getpid() },
            // SAFETY: an all-zero sigset_t is a valid value to overwrite.
            mask: unsafe { std::mem::zeroed() },
        };
        let mut stack: Vec<u8> = Vec::with_capacity(STACK_BYTES);
        // The top of the stack, 16-byte aligned (stacks grow down here).
        let top = (stack.as_mut_ptr() as usize + STACK_BYTES) & !15;
        // SAFETY: all signals are blocked while the child shares our memory
        // (it restores `plan.mask` just before exec, with our handlers
        // reset); clone with CLONE_VM | CLONE_VFORK suspends this thread
        // until the child has exec'd or exited, so `plan` and `stack`
        // outlive its use of them; `child` never returns.
        let pid = unsafe {
            let mut all: libc::sigset_t = std::mem::zeroed();
            libc::sigfillset(&mut all);
            libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut plan.mask);
            let pid = libc::clone(
                child,
                top as *mut c_void,
                libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
                (&raw mut plan).cast::<c_void>(),
            );
            let error = io::Error::last_os_error();
            libc::pthread_sigmask(libc::SIG_SETMASK, &plan.mask, std::ptr::null_mut());
            if pid < 0 {
                return Err(error);
            }
            pid
        };
        drop(stack);
        drop((stdin_read, stdout_write, stderr_write, report_write));
        // The child wrote its errno if it could not exec; EOF if it did.
        let mut errno = [0u8; 4];
        let mut read = 0;
        while read < errno.len() {
            // SAFETY: reads into the rest of a local buffer.
            let n = unsafe {
                libc::read(
                    report_read.as_raw_fd(),
                    errno[read..].as_mut_ptr().cast(),
                    errno.len() - read,
                )
            };
            match n {
                n if n > 0 => read += n.unsigned_abs(),
                0 => break,
                _ if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                _ => break,
            }
        }
        if read == errno.len() {
            // SAFETY: reaps the child, which has exited.
            unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
            return Err(io::Error::from_raw_os_error(i32::from_ne_bytes(errno)));
        }
        Ok(Child {
            pid,
            status: None,
            stdin: Some(stdin_write),
            stdout: Some(stdout_read),
            stderr: Some(stderr_read),
        })
    }

    /// The files `execvp` would try for `program`: itself when it has a
    /// `/`, else `dir/program` for each `PATH` directory (an empty one is
    /// the current directory; no `PATH`: `/bin:/usr/bin`, as glibc).
    fn candidates(program: &str, path: Option<&OsStr>) -> io::Result<Vec<CString>> {
        if program.is_empty() {
            return Err(io::Error::from_raw_os_error(libc::ENOENT));
        }
        if program.contains('/') {
            return Ok(vec![c_string(program)?]);
        }
        let path = path.map_or(&b"/bin:/usr/bin"[..], OsStr::as_bytes);
        path.split(|&byte| byte == b':')
            .map(|dir| {
                let mut file = if dir.is_empty() {
                    b".".to_vec()
                } else {
                    dir.to_vec()
                };
                file.push(b'/');
                file.extend_from_slice(program.as_bytes());
                c_string(file)
            })
            .collect()
    }

    /// The child, until it execs: async-signal-safe calls only, on data
    /// prepared by the parent; never returns.
    extern "C" fn child(plan: *mut c_void) -> c_int {
        // SAFETY: the parent passes its `Plan`, alive until we exec or exit.
        let plan = unsafe { &*plan.cast::<Plan>() };
        let errno = || {
            io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::EIO)
        };
        // SAFETY: each call is async-signal-safe and touches only `plan`
        // and local values; the descriptors are ours.
        unsafe {
            let fail = |error: c_int| report_and_exit(plan.report, error);
            let mut default: libc::sigaction = std::mem::zeroed();
            default.sa_sigaction = libc::SIG_DFL;
            for signal in RESET {
                let mut current: libc::sigaction = std::mem::zeroed();
                libc::sigaction(signal, std::ptr::null(), &mut current);
                // A signal ignored when mcp-cli started stays ignored
                // (`nohup`); SIGPIPE is ours to restore.
                if current.sa_sigaction != libc::SIG_IGN || signal == libc::SIGPIPE {
                    libc::sigaction(signal, &default, std::ptr::null_mut());
                }
            }
            // A session of its own, which is also a process group of its
            // own: no controlling terminal, so a server that would prompt
            // on it (ssh, sudo) fails at once instead of being stopped by
            // SIGTTIN until the deadline.
            if libc::setsid() < 0 {
                fail(errno());
            }
            for (target, &fd) in plan.stdio.iter().enumerate() {
                if libc::dup2(fd, target as c_int) < 0 {
                    fail(errno());
                }
            }
            if let Some(cwd) = &plan.cwd
                && libc::chdir(cwd.as_ptr()) != 0
            {
                fail(errno());
            }
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM as libc::c_ulong) != 0 {
                fail(errno());
            }
            // mcp-cli died before the call took effect: no signal would come.
            if libc::getppid() != plan.parent {
                fail(libc::ESRCH);
            }
            libc::pthread_sigmask(libc::SIG_SETMASK, &plan.mask, std::ptr::null_mut());
            // As execvp: the first error that is not "not here" wins, and
            // "permission denied" is kept over a later "not found".
            let mut error = libc::ENOENT;
            let mut denied = false;
            for path in &plan.paths {
                libc::execve(path.as_ptr(), plan.argv.as_ptr(), plan.envp.as_ptr());
                match errno() {
                    libc::EACCES => denied = true,
                    libc::ENOENT
                    | libc::ENOTDIR
                    | libc::ESTALE
                    | libc::ENODEV
                    | libc::ETIMEDOUT => {}
                    other => {
                        error = other;
                        break;
                    }
                }
            }
            if denied && error == libc::ENOENT {
                error = libc::EACCES;
            }
            fail(error)
        }
    }

    /// Writes `error` where the parent reads it, and exits.
    ///
    /// # Safety
    /// Called in the child only, with its report descriptor.
    unsafe fn report_and_exit(report: RawFd, error: c_int) -> ! {
        // SAFETY: write and _exit are async-signal-safe; `error` is local.
        unsafe {
            libc::write(report, (&raw const error).cast(), 4);
            libc::_exit(127)
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn a_bare_name_is_looked_up_on_path() {
            let found = candidates("node", Some(OsStr::new("/a::/b"))).unwrap();
            assert_eq!(found, [c"/a/node", c"./node", c"/b/node"]);
            assert_eq!(candidates("./x", None).unwrap(), [c"./x"]);
            assert_eq!(candidates("x", None).unwrap(), [c"/bin/x", c"/usr/bin/x"]);
            assert!(candidates("", None).is_err());
            assert!(candidates("a\0b", None).is_err());
        }

        #[test]
        fn spawns_with_pipes_environment_and_errors() {
            use std::io::{Read, Write};
            let env = [Setting {
                name: "MCP_CLI_SPAWN_TEST".into(),
                value: "value".into(),
                display: String::new(),
            }];
            let args = [
                "-c".to_owned(),
                "read line; echo \"$line $MCP_CLI_SPAWN_TEST $(pwd)\"; echo err >&2".to_owned(),
            ];
            let mut child = spawn("sh", &args, &env, Some(Path::new("/tmp")), None).unwrap();
            std::fs::File::from(child.stdin.take().unwrap())
                .write_all(b"hi\n")
                .unwrap();
            let mut out = String::new();
            std::fs::File::from(child.stdout.take().unwrap())
                .read_to_string(&mut out)
                .unwrap();
            assert_eq!(out, "hi value /tmp\n");
            let mut err = String::new();
            std::fs::File::from(child.stderr.take().unwrap())
                .read_to_string(&mut err)
                .unwrap();
            assert_eq!(err, "err\n");
            let status = loop {
                if let Some(status) = child.try_wait().unwrap() {
                    break status;
                }
                std::thread::sleep(std::time::Duration::from_millis(5));
            };
            assert!(status.success());
            let error = spawn("/nonexistent/x", &[], &[], None, None).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::NotFound);
            // A file without the execute bit (root too is refused then).
            let file = std::env::temp_dir().join(format!("mcp-cli-spawn-{}", std::process::id()));
            std::fs::write(&file, "text").unwrap();
            let error = spawn(file.to_str().unwrap(), &[], &[], None, None).unwrap_err();
            let _ = std::fs::remove_file(&file);
            assert_eq!(error.raw_os_error(), Some(libc::EACCES));
            let error = spawn("sh", &[], &[], Some(Path::new("/nonexistent")), None).unwrap_err();
            assert_eq!(error.kind(), io::ErrorKind::NotFound);
        }
    }
}
