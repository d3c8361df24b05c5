"""Runs a command on a real pseudo-terminal and answers its prompts like a person would:
wait for each expected prompt, then type the answer.

usage: drive_tty.py WORKDIR SCRIPT.json -- COMMAND [ARGS...]
SCRIPT.json is a list of [prompt_substring, answer] pairs. Exits with the command's status;
prints everything the command wrote to the terminal.
"""
import json
import os
import pty
import select
import sys
import time

workdir, script_path = sys.argv[1], sys.argv[2]
command = sys.argv[sys.argv.index("--") + 1:]
with open(script_path) as f:
    steps = json.load(f)

pid, fd = pty.fork()
if pid == 0:
    os.chdir(workdir)
    os.execv(command[0], command)

seen = b""


def read_until(text, timeout=30.0):
    global seen
    deadline = time.time() + timeout
    while text.encode() not in seen:
        remaining = deadline - time.time()
        if remaining <= 0:
            sys.stdout.write(seen.decode(errors="replace"))
            sys.exit(f"timed out waiting for {text!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            if not chunk:
                sys.stdout.write(seen.decode(errors="replace"))
                sys.exit(f"the command ended before {text!r}")
            seen += chunk
    # Consume the prompt so the next wait looks only at new output.
    seen = seen[seen.index(text.encode()) + len(text):]


for prompt, answer in steps:
    read_until(prompt)
    time.sleep(0.05)
    os.write(fd, (answer + "\n").encode())

while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode(errors="replace"))
sys.exit(os.waitstatus_to_exitcode(status))
