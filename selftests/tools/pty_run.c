// SPDX-License-Identifier: GPL-2.0
/*
 * pty_run: runs a command on a new pseudo-terminal, as a user at a
 * terminal would, for the launcher's console tests (linux_boot_test.sh).
 *
 *   pty_run [-t SECS] [-e TEXT -s BYTES]... -- COMMAND [ARG...]
 *
 * The command runs in a new session with the pty as its controlling
 * terminal, stdin and stdout (stderr stays ours). What it writes to the
 * terminal is copied to our stdout. Each "-e TEXT -s BYTES" is a step,
 * taken in order: wait until TEXT appears in the output (after the
 * previous step's match), then type BYTES; BYTES may hold \r, \n, \\ and
 * \xHH (so "\x01x" is Ctrl-A x).
 *
 * When the command has exited, the terminal's settings must be what they
 * were before it ran (the launcher puts the terminal in raw mode and must
 * restore it on every exit path): pty_run says which on stderr.
 *
 * Exit status: the command's (128 + N if signal N killed it); 125 if the
 * terminal settings were not restored; 124 if SECS (default 300) passed
 * first (the command is killed); 126 if the pty or the command could not
 * be set up.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAX_STEPS	16
#define STATUS_TIMEOUT	124
#define STATUS_TERMIOS	125
#define STATUS_SETUP	126

struct step {
	const char *expect;
	char send[256];
	size_t send_len;
};

static struct step steps[MAX_STEPS];
static unsigned int nr_steps;

static char *output;		/* everything the command wrote */
static size_t output_len, output_cap, matched_to;

static void die(const char *what)
{
	fprintf(stderr, "pty_run: %s: %s\n", what, strerror(errno));
	exit(STATUS_SETUP);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: pty_run [-t SECS] [-e TEXT -s BYTES]... -- COMMAND [ARG...]\n");
	exit(STATUS_SETUP);
}

/* \r \n \\ \xHH; anything else as is. Returns the decoded length. */
static size_t decode(const char *in, char *out, size_t cap)
{
	size_t n = 0;

	while (*in && n < cap) {
		if (in[0] == '\\' && in[1] == 'x' && in[2] && in[3]) {
			char hex[3] = { in[2], in[3], 0 };

			out[n++] = (char)strtoul(hex, NULL, 16);
			in += 4;
		} else if (in[0] == '\\' && (in[1] == 'r' || in[1] == 'n' ||
					     in[1] == '\\')) {
			out[n++] = in[1] == 'r' ? '\r' :
				   in[1] == 'n' ? '\n' : '\\';
			in += 2;
		} else {
			out[n++] = *in++;
		}
	}
	return n;
}

static void parse_args(int argc, char **argv, unsigned int *timeout_s)
{
	int opt;

	while ((opt = getopt(argc, argv, "+t:e:s:")) != -1) {
		switch (opt) {
		case 't':
			*timeout_s = (unsigned int)strtoul(optarg, NULL, 10);
			break;
		case 'e':
			if (nr_steps == MAX_STEPS)
				usage();
			steps[nr_steps++].expect = optarg;
			break;
		case 's':
			if (!nr_steps || steps[nr_steps - 1].send_len)
				usage();
			steps[nr_steps - 1].send_len =
				decode(optarg, steps[nr_steps - 1].send,
				       sizeof(steps[0].send));
			break;
		default:
			usage();
		}
	}
	if (optind >= argc)
		usage();
}

static void append_output(const char *buf, size_t len)
{
	if (output_len + len + 1 > output_cap) {
		output_cap = (output_len + len + 1) * 2;
		output = realloc(output, output_cap);
		if (!output)
			die("realloc");
	}
	memcpy(output + output_len, buf, len);
	output_len += len;
	output[output_len] = '\0';
}

/* Takes every step whose text has appeared; returns the next step. */
static unsigned int take_steps(int master, unsigned int next)
{
	char *hit;

	while (next < nr_steps) {
		hit = strstr(output + matched_to, steps[next].expect);
		if (!hit)
			break;
		matched_to = (size_t)(hit - output) + strlen(steps[next].expect);
		if (write(master, steps[next].send, steps[next].send_len) !=
		    (ssize_t)steps[next].send_len)
			die("write to the pty");
		next++;
	}
	return next;
}

/* Copies what is readable now; false at EOF or EIO (no slave left). */
static bool copy_output(int master)
{
	char buf[4096];
	ssize_t n = read(master, buf, sizeof(buf));

	if (n < 0 && (errno == EINTR || errno == EAGAIN))
		return true;
	if (n <= 0)
		return false;
	append_output(buf, (size_t)n);
	fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	return true;
}

static pid_t start_command(int master, char **argv)
{
	const char *slave_name = ptsname(master);
	pid_t pid = fork();
	int slave;

	if (pid < 0)
		die("fork");
	if (pid)
		return pid;
	setsid();
	slave = open(slave_name, O_RDWR);	/* the controlling tty */
	if (slave < 0)
		_exit(STATUS_SETUP);
	dup2(slave, STDIN_FILENO);
	dup2(slave, STDOUT_FILENO);
	if (slave > STDOUT_FILENO)
		close(slave);
	close(master);
	execvp(argv[0], argv);
	fprintf(stderr, "pty_run: %s: %s\n", argv[0], strerror(errno));
	_exit(STATUS_SETUP);
}

static bool same_termios(const struct termios *a, const struct termios *b)
{
	return a->c_iflag == b->c_iflag && a->c_oflag == b->c_oflag &&
	       a->c_cflag == b->c_cflag && a->c_lflag == b->c_lflag &&
	       !memcmp(a->c_cc, b->c_cc, sizeof(a->c_cc));
}

static int wait_status(int ws)
{
	return WIFEXITED(ws) ? WEXITSTATUS(ws) : 128 + WTERMSIG(ws);
}

int main(int argc, char **argv)
{
	unsigned int timeout_s = 300, next = 0;
	struct termios before, after;
	struct pollfd pfd;
	time_t deadline;
	int master, slave, ws, status;
	pid_t pid;

	parse_args(argc, argv, &timeout_s);
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master))
		die("posix_openpt");
	/* Held open so that the settings can be read after the command. */
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	if (slave < 0 || tcgetattr(slave, &before))
		die("the pty's slave");
	pid = start_command(master, argv + optind);
	append_output("", 0);
	deadline = time(NULL) + timeout_s;

	pfd.fd = master;
	pfd.events = POLLIN;
	for (;;) {
		if (waitpid(pid, &ws, WNOHANG) == pid)
			break;
		if (time(NULL) >= deadline) {
			fprintf(stderr, "pty_run: timeout after %us: killing the command\n",
				timeout_s);
			kill(pid, SIGTERM);
			sleep(5);
			kill(pid, SIGKILL);
			waitpid(pid, &ws, 0);
			return STATUS_TIMEOUT;
		}
		if (poll(&pfd, 1, 200) > 0)
			copy_output(master);
		next = take_steps(master, next);
	}
	/* What the command wrote just before it exited. */
	while (poll(&pfd, 1, 100) > 0 && copy_output(master))
		;
	status = wait_status(ws);
	if (next < nr_steps)
		fprintf(stderr, "pty_run: '%s' never appeared\n",
			steps[next].expect);
	if (tcgetattr(slave, &after))
		die("tcgetattr after the command");
	if (!same_termios(&before, &after)) {
		fprintf(stderr, "pty_run: terminal settings NOT restored (lflag 0x%x, was 0x%x; iflag 0x%x, was 0x%x)\n",
			after.c_lflag, before.c_lflag, after.c_iflag,
			before.c_iflag);
		return STATUS_TERMIOS;
	}
	fprintf(stderr, "pty_run: terminal settings restored; exit status %d\n",
		status);
	return status;
}
