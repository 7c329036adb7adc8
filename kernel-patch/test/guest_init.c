// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-only
/*
 * PID 1 of crpid's boot test (see boot-test.sh), for x86_64 and arm64:
 * built static with the machine's gcc (or aarch64-linux-gnu-gcc); the
 * machine's few differences are the ARCH_* macros below. As root it copies
 * crpid to a tmpfs twice and gives one copy the file capability
 * cap_checkpoint_restore+ep (an xattr does not survive the initramfs'
 * cpio). Every check then runs crpid as uid/gid 65534 from a child whose
 * capability sets are all empty, the way a user's shell starts it (so the
 * exec of the +ep copy is a secure exec), and prints one line
 * "RESULT <name> PASS|FAIL <detail>"; the total comes last as
 * "CHECKS DONE pass=N fail=N". The harness knows the names (CHECK_NAMES in
 * boot-test.sh) and fails on any missing or failing line.
 *
 * What depends on the kernel is read from `crpid check` first, never from
 * the kernel version: where clone3 set_tid is missing (before 5.5, or EL8's
 * 4.18), --method clone3 must fail with crpid's line and a forced
 * --method ns-last-pid is allowed.
 *
 * Run with an argument (not as PID 1) it is a helper for those checks:
 *   init pid            print "pid=<getpid()>"
 *   init exe            print "exe=<readlink /proc/self/exe>"
 *   init caps           print the Cap* lines of /proc/self/status
 *   init auxv           print the auxv keys and the values execve sets
 *                       alike for every program
 *   init hold           map a deleted file and a memfd, print "ready", wait
 *   init node           print "ready" on fd 1, wait (a tree's process)
 *   init make-tree      build the 5-process tree (2 sessions, 3 groups)
 *   init make-orphans   build a tree whose session and one group have
 *                       their leader outside it
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH_AUDIT AUDIT_ARCH_X86_64
#define ARCH_PLATFORM "x86_64"
#define ARCH_FOREIGN_MACHINE EM_AARCH64	/* what set-mm-foreign writes */
#elif defined(__aarch64__)
#define ARCH_AUDIT AUDIT_ARCH_AARCH64
#define ARCH_PLATFORM "aarch64"
#define ARCH_FOREIGN_MACHINE EM_X86_64
#else
#error "guest_init.c: x86_64 or aarch64 only"
#endif

#define NOBODY 65534
#define CAP_CR 40		/* CAP_CHECKPOINT_RESTORE */
#define NR_CLONE3 435		/* the same on both machines */
#define SELF "/init"
#define WORK "/t"
#define CRPID_CAP WORK "/crpid-cap"
#define CRPID_NOCAP WORK "/crpid-nocap"
#define EXE_TARGET WORK "/exe-target"
#define TREE_FILE WORK "/tree.json"
#define ORPHANS_FILE WORK "/orphans.json"
#define PID_MAP WORK "/pids"
#define DELETED_FILE WORK "/deleted-data"
#define DELETED_SIZE 20000	/* sizes tell the two dumped files apart */
#define MEMFD_SIZE 12345	/* not page aligned on purpose */
#define OUT_FILE WORK "/out"
#define ERR_FILE WORK "/err"
#define O_NEWFILE (O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
#define OUTPUT_MAX 65536
#define TREE_MAX 8
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int passed, failed;
static bool set_tid_works;	/* crpid check: clone3-set-tid yes */

/* One write per line, so kernel messages cannot split it. */
static void say(const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (n > (int)sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	if (write(STDOUT_FILENO, line, n) < 0)
		return;
}

static void result(const char *name, bool ok, const char *fmt, ...)
{
	char detail[768];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	say("RESULT %s %s %s", name, ok ? "PASS" : "FAIL", detail);
	if (ok)
		passed++;
	else
		failed++;
}

/* Byte i of the deleted file (seed 3) or of the memfd (seed 7). */
static unsigned char pattern_byte(size_t i, unsigned seed)
{
	return (unsigned char)(i * 131 + seed);
}

/* Reads up to size - 1 bytes of a file, NUL-terminated. */
static void read_all(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, total = 0;

	while (fd >= 0 && (n = read(fd, buf + total, size - 1 - total)) > 0)
		total += n;
	if (fd >= 0)
		close(fd);
	buf[total] = '\0';
}

static int write_file(const char *path, const char *text, mode_t mode)
{
	int fd = open(path, O_NEWFILE, mode);
	ssize_t n = fd < 0 ? -1 : write(fd, text, strlen(text));

	if (fd >= 0)
		close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

static void first_line(const char *text, char *line, size_t size)
{
	snprintf(line, size, "%.*s", (int)strcspn(text, "\n"), text);
}

/*
 * The value on the line "key=value" (the probe's) or "key\tvalue" (the
 * Cap* lines of /proc/PID/status) or "key  value" (crpid check), or NULL.
 */
static const char *value_of(const char *text, const char *key, char *value,
			    size_t size)
{
	size_t length = strlen(key);
	const char *line;

	for (line = text; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL)
		if (!strncmp(line, key, length) &&
		    (line[length] == '=' || line[length] == '\t' ||
		     line[length] == ' ')) {
			first_line(line + length + 1 + strspn(line + length + 1,
							      "\t "),
				   value, size);
			return value;
		}
	return NULL;
}

static bool has_value(const char *text, const char *key, const char *want)
{
	char value[512];

	return value_of(text, key, value, sizeof(value)) &&
	       !strcmp(value, want);
}

static int copy_file(const char *from, const char *to)
{
	char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC);
	int out = open(to, O_NEWFILE, 0755);
	ssize_t n = -1;

	if (in >= 0 && out >= 0)
		while ((n = read(in, buf, sizeof(buf))) > 0)
			if (write(out, buf, n) != n) {
				n = -1;
				break;
			}
	if (in >= 0)
		close(in);
	if (out >= 0)
		close(out);
	return n == 0 ? 0 : -1;
}

/* security.capability, revision 2: cap 40 permitted, effective flag set. */
static int set_file_capability(const char *path)
{
	struct vfs_cap_data cap = {
		.magic_etc = VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE,
	};

	cap.data[CAP_CR / 32].permitted = 1u << (CAP_CR % 32);
	return setxattr(path, "security.capability", &cap, XATTR_CAPS_SZ_2, 0);
}

/* clone3 answers ENOSYS, as under Docker's default seccomp profile. */
static int deny_clone3(void)
{
	struct sock_filter filter[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_AUDIT, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CLONE3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog program = {
		.len = ARRAY_SIZE(filter),
		.filter = filter,
	};

	/* As root (CAP_SYS_ADMIN), without no_new_privs, which would stop
	 * the file capability. */
	return prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &program);
}

/*
 * In a forked child: become nobody with no supplementary groups. Leaving
 * uid 0 clears the permitted, effective and ambient sets.
 */
static void drop_to_nobody(void)
{
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY)) {
		perror("drop to nobody");
		_exit(126);
	}
}

/* Starts argv as nobody with stdout and stderr on the given descriptors. */
static pid_t spawn_nobody(char *const argv[], int out, int err,
			  bool without_clone3)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
		_exit(126);
	if (without_clone3 && deny_clone3()) {
		perror("seccomp");
		_exit(126);
	}
	drop_to_nobody();
	execv(argv[0], argv);
	perror(argv[0]);
	_exit(127);
}

struct outcome {
	int status;		/* exit code, or 128 + signal */
	int err_lines;		/* lines on stderr */
	char out[OUTPUT_MAX];	/* stdout */
	char err[512];		/* first line of stderr */
};

static struct outcome o;	/* one run at a time */

/*
 * Waits for pid, reaping whatever else ends meanwhile: as PID 1 this init
 * inherits every orphan (a restored tree's processes, a placeholder), and
 * an unreaped zombie would keep its PID taken.
 */
static int wait_reaping(pid_t pid)
{
	int status = 0;
	pid_t done;

	do
		done = waitpid(-1, &status, 0);
	while (done != pid && (done > 0 || errno == EINTR));
	if (done != pid)
		return 255;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
				   128 + WTERMSIG(status);
}

static void reap_all(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static pid_t start(char *const argv[], bool without_clone3)
{
	int out = open(OUT_FILE, O_NEWFILE, 0644);
	int err = open(ERR_FILE, O_NEWFILE, 0644);
	pid_t pid = out < 0 || err < 0 ? -1 :
		spawn_nobody(argv, out, err, without_clone3);

	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	return pid;
}

static void collect(int status)
{
	char err_text[4096], *c;

	o.status = status;
	read_all(OUT_FILE, o.out, sizeof(o.out));
	read_all(ERR_FILE, err_text, sizeof(err_text));
	first_line(err_text, o.err, sizeof(o.err));
	o.err_lines = 0;
	for (c = err_text; *c; c++)
		o.err_lines += *c == '\n';
}

/* Runs argv as nobody and waits; stdout and stderr go through files. */
static void run(char *const argv[], bool without_clone3)
{
	pid_t pid = start(argv, without_clone3);

	collect(pid > 0 ? wait_reaping(pid) : 255);
}

/* crpid failed with exit 125 and one line "crpid: CMD: ...". */
static bool one_line_failure(const char *cmd)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "crpid: %s: ", cmd);
	return o.status == 125 && o.err_lines == 1 &&
	       !strncmp(o.err, prefix, strlen(prefix));
}

/* A feature line of `crpid check` ("name   yes  detail") says yes, no. */
static bool feature_is(const char *text, const char *feature,
		       const char *answer)
{
	char value[256];

	return value_of(text, feature, value, sizeof(value)) &&
	       !strncmp(value, answer, strlen(answer)) &&
	       value[strlen(answer)] == ' ';
}

static bool pid_exists(pid_t pid)
{
	char path[32];

	snprintf(path, sizeof(path), "/proc/%d", pid);
	return !access(path, F_OK);
}

/* The lowest PID from `from` on that no process has, nor a group/session. */
static pid_t free_pid(pid_t from)
{
	pid_t pid;

	for (pid = from;; pid++)
		if (!pid_exists(pid) && getsid(pid) < 0 && getpgid(pid) < 0 &&
		    kill(-pid, 0) < 0)
			return pid;
}

/* A free block of n PIDs from `from` on: a tree's PIDs must all be free. */
static bool wait_gone(const pid_t *pids, int n)
{
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	int tries, i;

	for (tries = 0; tries < 400; tries++) {	/* 20 s: PID 1 reaps */
		reap_all();
		for (i = 0; i < n && !pid_exists(pids[i]) &&
			    kill(-pids[i], 0) < 0; i++)
			;
		if (i == n)
			return true;
		nanosleep(&tick, NULL);
	}
	return false;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000 * 1000 };

	nanosleep(&t, NULL);
}

/* ----- checks ----------------------------------------------------------- */

static void check_caller_caps(void)
{
	char *argv[] = { SELF, "caps", NULL };
	bool ok;

	run(argv, false);
	ok = o.status == 0 && has_value(o.out, "CapInh:", "0000000000000000") &&
	     has_value(o.out, "CapPrm:", "0000000000000000") &&
	     has_value(o.out, "CapEff:", "0000000000000000") &&
	     has_value(o.out, "CapAmb:", "0000000000000000");
	result("caller-caps", ok, "uid %d: Inh Prm Eff Amb all 0 (exit=%d)",
	       NOBODY, o.status);
}

/* crpid check with the capability: every feature, verdict "works". */
static void check_check(const char *name, bool without_clone3)
{
	char *argv[] = { CRPID_CAP, "check", NULL };
	char *verdict;
	bool ok;

	run(argv, without_clone3);
	verdict = strstr(o.out, "verdict: ");
	ok = o.status == 0 && verdict &&
	     !strncmp(verdict, "verdict: crpid works here", 25);
	if (without_clone3) {
		/* The filter must show as "no clone3", and fork-at still works. */
		ok = ok && feature_is(o.out, "clone3", "no");
	} else {
		set_tid_works = feature_is(o.out, "clone3-set-tid", "yes");
	}
	result(name, ok, "exit=%d clone3=%s set_tid=%s %.60s", o.status,
	       feature_is(o.out, "clone3", "yes") ? "yes" : "no",
	       feature_is(o.out, "clone3-set-tid", "yes") ? "yes" : "no",
	       verdict ? verdict : o.err);
	if (!ok)	/* which feature said no */
		say("CHECK crpid check said:\n%s", o.out);
}

/*
 * fork-at lands on a free PID; where set_tid is missing, --method clone3
 * fails with crpid's line instead (it is what `crpid check` reported).
 */
static void check_fork_at(const char *name, const char *method,
			  bool without_clone3, pid_t from)
{
	char pid_arg[16], want[16], said[64];
	pid_t pid = free_pid(from);
	char *argv[] = { CRPID_CAP, "fork-at", "--method", (char *)method,
			 pid_arg, "--", SELF, "pid", NULL };
	bool ok;

	snprintf(pid_arg, sizeof(pid_arg), "%d", pid);
	snprintf(want, sizeof(want), "%d", pid);
	run(argv, without_clone3);
	first_line(o.out, said, sizeof(said));
	if (!strcmp(method, "clone3") && !set_tid_works)
		ok = one_line_failure("fork-at") &&
		     (strstr(o.err, "set_tid") || strstr(o.err, "no clone3")) &&
		     !pid_exists(pid);
	else
		ok = o.status == 0 && has_value(o.out, "pid", want);
	result(name, ok, "--method %s%s: free PID %d, the child said '%s' "
	       "exit=%d %s", method, without_clone3 ? " (clone3 ENOSYS)" : "",
	       pid, said, o.status, o.err);
}

/* A forced --method ns-last-pid: refused where set_tid works, else used. */
static void check_forced_ns_last_pid(void)
{
	char pid_arg[16], want[16];
	pid_t pid = free_pid(400);
	char *argv[] = { CRPID_CAP, "fork-at", "--method", "ns-last-pid",
			 pid_arg, "--", SELF, "pid", NULL };
	bool ok;

	snprintf(pid_arg, sizeof(pid_arg), "%d", pid);
	snprintf(want, sizeof(want), "%d", pid);
	run(argv, false);
	if (set_tid_works)
		ok = one_line_failure("fork-at") &&
		     strstr(o.err, "--method ns-last-pid is refused where "
			    "clone3 set_tid works") && !pid_exists(pid);
	else
		ok = o.status == 0 && has_value(o.out, "pid", want);
	result("fork-at-forced-ns-last-pid", ok, "set_tid %s: exit=%d %.60s %s",
	       set_tid_works ? "works, so refused" : "missing, so allowed",
	       o.status, o.out, o.err);
}

/* fork-at --pid-map: the PID of the key's line. */
static void check_pid_map(void)
{
	char map[128], want[16];
	pid_t first = free_pid(600), second = free_pid(first + 1);
	char *argv[] = { CRPID_CAP, "fork-at", "--pid-map", PID_MAP, "--key",
			 "1", "--", SELF, "pid", NULL };

	snprintf(map, sizeof(map), "# rank PID\n0 %d\n1 %d\n", first, second);
	snprintf(want, sizeof(want), "%d", second);
	if (write_file(PID_MAP, map, 0644) || chown(PID_MAP, NOBODY, NOBODY)) {
		result("fork-at-pid-map", false, "cannot write " PID_MAP);
		return;
	}
	run(argv, false);
	result("fork-at-pid-map", o.status == 0 && has_value(o.out, "pid", want),
	       "key 1 of '0 %d / 1 %d': the child said '%.20s' exit=%d %s",
	       first, second, o.out, o.status, o.err);
}

/* A helper holding a PID until killed; its PID. */
static pid_t start_holder(void)
{
	char *argv[] = { SELF, "node", NULL };
	char ready[8] = "";
	int pipefd[2];
	pid_t pid;

	if (pipe2(pipefd, O_CLOEXEC))
		return -1;
	pid = spawn_nobody(argv, pipefd[1], STDERR_FILENO, false);
	close(pipefd[1]);
	if (pid > 0 && read(pipefd[0], ready, sizeof(ready) - 1) <= 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		pid = -1;
	}
	close(pipefd[0]);
	return pid;
}

/*
 * fork-at --wait: crpid waits while the PID is held (still running a
 * second later, no child at the PID), then lands on it once the holder is
 * gone.
 */
static void check_wait(void)
{
	pid_t holder = start_holder(), crpid;
	char pid_arg[16], want[16];
	char *argv[] = { CRPID_CAP, "fork-at", "--wait", "120", pid_arg, "--",
			 SELF, "pid", NULL };
	bool waited;
	int status;

	if (holder < 0) {
		result("fork-at-wait", false, "the holder failed");
		return;
	}
	snprintf(pid_arg, sizeof(pid_arg), "%d", holder);
	snprintf(want, sizeof(want), "%d", holder);
	crpid = start(argv, false);
	sleep_ms(1000);
	waited = crpid > 0 && waitpid(crpid, &status, WNOHANG) == 0;
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
	collect(crpid > 0 ? wait_reaping(crpid) : 255);
	result("fork-at-wait", waited && o.status == 0 &&
	       has_value(o.out, "pid", want),
	       "PID %d held 1 s: %s; then the child said '%.20s' exit=%d %s",
	       holder, waited ? "crpid waited" : "crpid did not wait", o.out,
	       o.status, o.err);
}

/* fork-at --check: exit 1 and the holder for a held PID, 0 "free" else. */
static void check_check_option(void)
{
	pid_t holder = start_holder(), free = free_pid(650);
	char held_arg[16], free_arg[16], held_want[64], free_want[32];
	char *held_argv[] = { CRPID_CAP, "fork-at", "--check", held_arg, NULL };
	char *free_argv[] = { CRPID_CAP, "fork-at", "--check", free_arg, NULL };
	char held_said[128];
	bool ok;

	snprintf(held_arg, sizeof(held_arg), "%d", holder);
	snprintf(free_arg, sizeof(free_arg), "%d", free);
	snprintf(held_want, sizeof(held_want), "%d: held by process 'init'",
		 holder);
	snprintf(free_want, sizeof(free_want), "%d: free", free);
	run(held_argv, false);
	first_line(o.out, held_said, sizeof(held_said));
	ok = o.status == 1 && !strncmp(held_said, held_want, strlen(held_want));
	run(free_argv, false);
	ok = ok && o.status == 0 && !strncmp(o.out, free_want,
					     strlen(free_want)) &&
	     o.out[strlen(free_want)] == '\n' && !pid_exists(free);
	result("fork-at-check", ok, "held: '%s'; free: '%.30s' exit=%d %s",
	       held_said, o.out, o.status, o.err);
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
}

static void check_refused(void)
{
	char pid_arg[16];
	pid_t pid = free_pid(700);
	char *argv[] = { CRPID_NOCAP, "fork-at", pid_arg, "--", SELF, "pid",
			 NULL };

	snprintf(pid_arg, sizeof(pid_arg), "%d", pid);
	run(argv, false);
	result("cap-absent-fork-at", one_line_failure("fork-at") &&
	       strstr(o.err, "Operation not permitted") && !o.out[0],
	       "exit=%d %s", o.status, o.err);
}

/* Compares the single file under DIR/files with the pattern. */
static bool dump_matches(const char *dir, size_t size, unsigned seed,
			 char *detail, size_t detail_size)
{
	static unsigned char buf[DELETED_SIZE + 1];
	char files[256], path[512] = "";
	struct dirent *entry;
	int count = 0, fd;
	ssize_t n = -1;
	size_t i;
	DIR *d;

	snprintf(files, sizeof(files), "%s/files", dir);
	d = opendir(files);
	if (!d) {
		snprintf(detail, detail_size, "no %s", files);
		return false;
	}
	while ((entry = readdir(d)))
		if (entry->d_name[0] != '.' && count++ == 0)
			snprintf(path, sizeof(path), "%s/%s", files,
				 entry->d_name);
	closedir(d);
	if (count != 1) {
		snprintf(detail, detail_size, "%d files saved, want 1", count);
		return false;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	for (i = 0; n == (ssize_t)size && i < size; i++)
		if (buf[i] != pattern_byte(i, seed))
			break;
	if (n != (ssize_t)size || i != size) {
		snprintf(detail, detail_size, "%s: %zd bytes, differs at %zu",
			 path, n, i);
		return false;
	}
	snprintf(detail, detail_size, "%s: %zu bytes equal", path, size);
	return true;
}

static void check_dump(pid_t holder, const char *only, size_t size,
		       unsigned seed)
{
	char pid_arg[16], dir[64], name[64], why[640];
	char *dump_argv[] = { CRPID_CAP, "map-files-dump", "--only",
			      (char *)only, pid_arg, "-o", dir, NULL };
	char *verify_argv[] = { CRPID_CAP, "map-files-dump", "--verify", dir,
				NULL };
	bool ok = false;

	snprintf(pid_arg, sizeof(pid_arg), "%d", holder);
	snprintf(dir, sizeof(dir), WORK "/dump-%s", only);
	snprintf(name, sizeof(name), "map-files-dump-%s", only);
	run(dump_argv, false);
	if (o.status != 0) {
		result(name, false, "exit=%d %s", o.status, o.err);
		return;
	}
	ok = dump_matches(dir, size, seed, why, sizeof(why));
	run(verify_argv, false);
	result(name, ok && o.status == 0, "%s; --verify exit=%d %.60s", why,
	       o.status, o.out);
}

/* The copy without the capability: one line, no directory left behind. */
static void check_dump_refused(pid_t holder)
{
	static const char dir[] = WORK "/dump-refused";
	char pid_arg[16];
	char *argv[] = { CRPID_NOCAP, "map-files-dump", pid_arg, "-o",
			 (char *)dir, NULL };

	snprintf(pid_arg, sizeof(pid_arg), "%d", holder);
	run(argv, false);
	result("cap-absent-map-files-dump", one_line_failure("map-files-dump") &&
	       strstr(o.err, "CAP_CHECKPOINT_RESTORE") && access(dir, F_OK),
	       "exit=%d %s; %s %s", o.status, o.err, dir,
	       access(dir, F_OK) ? "absent" : "left behind");
}

static void check_map_files_dump(void)
{
	static const char *const names[] = { "map-files-dump-deleted",
		"map-files-dump-memfd", "cap-absent-map-files-dump" };
	char *holder_argv[] = { SELF, "hold", NULL };
	char ready[16] = "";
	int pipefd[2];
	pid_t holder = -1;
	size_t i;

	if (!pipe2(pipefd, O_CLOEXEC)) {
		holder = spawn_nobody(holder_argv, pipefd[1], STDERR_FILENO,
				      false);
		close(pipefd[1]);
		if (holder > 0 && (read(pipefd[0], ready, 15) <= 0 ||
				   strncmp(ready, "ready", 5))) {
			kill(holder, SIGKILL);
			waitpid(holder, NULL, 0);
			holder = -1;
		}
		close(pipefd[0]);
	}
	if (holder < 0) {
		for (i = 0; i < ARRAY_SIZE(names); i++)
			result(names[i], false, "the holder failed");
		return;
	}
	check_dump(holder, "deleted", DELETED_SIZE, 3);
	check_dump(holder, "memfd", MEMFD_SIZE, 7);
	check_dump_refused(holder);
	kill(holder, SIGKILL);
	waitpid(holder, NULL, 0);
}

/* What tests/set_mm_integration_test.cc expects of the probe after set-mm. */
static void check_set_mm(const char *name, const char *probe, bool dynamic)
{
	static const char *const ones[] = {
		"cmdline_matches", "environ_matches", "auxv_matches",
		"at_random_set", "at_sysinfo_ehdr_set", "code_inside_at_phdr",
		"entry_in_code", "arg_range_is_argv", "stack_below_argv",
		"data_before_brk", "malloc", "thread", "signal", "dumpable",
		"done",
	};
	static const char *const zero_sets[] = { "CapInh:", "CapPrm:",
						 "CapEff:", "CapAmb:" };
	char *argv[] = { CRPID_CAP, "set-mm", "--", (char *)probe, "a", "b c",
			 NULL };
	char bad[256] = "";
	size_t i;

	run(argv, false);
#define EXPECT(key, want)                                                   \
	do {                                                                \
		if (!bad[0] && !has_value(o.out, key, want))                \
			snprintf(bad, sizeof(bad), "%s is not %s", key, want); \
	} while (0)
	EXPECT("exe", probe);
	EXPECT("argc", "3");
	EXPECT("argv0", probe);
	EXPECT("argv1", "a");
	EXPECT("argv2", "b c");
	EXPECT("at_execfn", probe);
	EXPECT("at_platform", ARCH_PLATFORM);
	EXPECT("at_secure", "0");
	EXPECT("at_uid", "65534");
	EXPECT("at_pagesz", "4096");
	EXPECT("at_base_set", dynamic ? "1" : "0");
	EXPECT("sigusr1_blocked", "0");
	EXPECT("fds_above_2", "0");
	for (i = 0; i < ARRAY_SIZE(ones); i++)
		EXPECT(ones[i], "1");
	for (i = 0; i < ARRAY_SIZE(zero_sets); i++)
		EXPECT(zero_sets[i], "0000000000000000");
#undef EXPECT
	/* crpid's own image is gone: the probe maps no crpid file. */
	if (!bad[0] && strstr(o.out, "mapped=" WORK "/crpid"))
		snprintf(bad, sizeof(bad), "crpid still mapped");
	result(name, o.status == 0 && !bad[0], "%s exit=%d: %s%s", probe,
	       o.status, bad[0] ? bad :
	       "exe argv auxv platform=" ARCH_PLATFORM " caps=0 as execve",
	       o.status ? o.err : "");
}

/* A copy of the static probe marked for the other machine: exit 126. */
static void check_set_mm_foreign(void)
{
	static const char foreign[] = WORK "/foreign-probe";
	char *argv[] = { CRPID_CAP, "set-mm", "--", (char *)foreign, NULL };
	const unsigned short machine = ARCH_FOREIGN_MACHINE;
	char want[160];
	int fd;

	if (copy_file("/probe/set_mm_probe_static", foreign) ||
	    (fd = open(foreign, O_WRONLY | O_CLOEXEC)) < 0) {
		result("set-mm-foreign", false, "cannot copy the probe");
		return;
	}
	if (pwrite(fd, &machine, 2, offsetof(Elf64_Ehdr, e_machine)) != 2)
		say("CHECK pwrite e_machine failed: %m");
	close(fd);
	snprintf(want, sizeof(want),
		 "crpid: set-mm: %s: built for another machine "
		 "(e_machine %d, not " ARCH_PLATFORM ")", foreign,
		 ARCH_FOREIGN_MACHINE);
	run(argv, false);
	result("set-mm-foreign", o.status == 126 && !o.out[0] &&
	       o.err_lines == 1 && !strncmp(o.err, want, strlen(want)),
	       "exit=%d %s", o.status, o.err);
}

static void check_set_mm_exe(void)
{
	char *argv[] = { CRPID_CAP, "set-mm", "--exe", EXE_TARGET, "--", SELF,
			 "exe", NULL };

	run(argv, false);
	result("set-mm-exe", o.status == 0 &&
	       has_value(o.out, "exe", EXE_TARGET),
	       "--exe " EXE_TARGET ": the program said '%.60s' exit=%d %s",
	       o.out, o.status, o.err);
}

/* set-mm gives the program the auxv keys execve gives it, key by key. */
static void check_set_mm_auxv(void)
{
	static char direct[OUTPUT_MAX];
	char *direct_argv[] = { SELF, "auxv", NULL };
	char *set_mm_argv[] = { CRPID_CAP, "set-mm", "--", SELF, "auxv", NULL };
	char keys[512] = "";
	bool ok;

	run(direct_argv, false);
	memcpy(direct, o.out, sizeof(direct));
	ok = o.status == 0 && value_of(direct, "keys", keys, sizeof(keys));
	run(set_mm_argv, false);
	ok = ok && o.status == 0 && !strcmp(direct, o.out);
	result("set-mm-auxv", ok, "%s entries as execve's: %s (exit=%d %s)",
	       ok ? "the same" : "NOT the same", keys, o.status, o.err);
	if (!ok)
		say("CHECK execve's auxv:\n%s\nCHECK set-mm's auxv:\n%s", direct,
		    o.out);
}

static void check_set_mm_refused(void)
{
	char *argv[] = { CRPID_NOCAP, "set-mm", "--exe", EXE_TARGET, "--", SELF,
			 "exe", NULL };

	run(argv, false);
	result("cap-absent-set-mm", one_line_failure("set-mm") &&
	       strstr(o.err, "CAP_CHECKPOINT_RESTORE") && !o.out[0],
	       "exit=%d %s", o.status, o.err);
}

static void check_check_refused(void)
{
	char *argv[] = { CRPID_NOCAP, "check", NULL };
	char *verdict;

	run(argv, false);
	verdict = strstr(o.out, "verdict: ");
	result("cap-absent-check", o.status == 1 && verdict &&
	       strncmp(verdict, "verdict: crpid works here", 25) &&
	       feature_is(o.out, "file-capability", "no"),
	       "exit=%d %.80s", o.status, verdict ? verdict : o.err);
}

/* ----- trees ------------------------------------------------------------ */

struct node {
	pid_t pid, ppid, pgid, sid;
};

struct tree {
	int n;
	struct node nodes[TREE_MAX];
};

/* ppid, pgid and sid of a live process from /proc/PID/stat. */
static bool read_node(pid_t pid, struct node *node)
{
	char path[32], stat[512], *end;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	read_all(path, stat, sizeof(stat));
	end = strrchr(stat, ')');
	node->pid = pid;
	return end && sscanf(end + 2, "%*c %d %d %d", &node->ppid, &node->pgid,
			     &node->sid) == 3;
}

/* The PIDs a tree builder printed (one "ready <pid>" line each). */
static bool start_tree(const char *mode, int count, struct tree *tree,
		       pid_t *builder)
{
	char *argv[] = { SELF, (char *)mode, NULL };
	char buf[512];
	int pipefd[2], got = 0;
	size_t used = 0;
	ssize_t n;
	char *line;

	tree->n = 0;
	if (pipe2(pipefd, 0))
		return false;
	*builder = spawn_nobody(argv, pipefd[1], STDERR_FILENO, false);
	close(pipefd[1]);
	while (got < count && used < sizeof(buf) - 1 &&
	       (n = read(pipefd[0], buf + used, sizeof(buf) - 1 - used)) > 0) {
		used += n;
		buf[used] = '\0';
		for (got = 0, line = strstr(buf, "ready"); line;
		     line = strstr(line + 1, "ready"))
			got++;
	}
	close(pipefd[0]);
	buf[used] = '\0';
	for (line = strstr(buf, "ready "); line && tree->n < TREE_MAX;
	     line = strstr(line + 1, "ready "))
		tree->nodes[tree->n++].pid = atoi(line + 6);
	return tree->n == count;
}

static bool in_tree(const struct tree *tree, pid_t pid)
{
	int i;

	for (i = 0; i < tree->n; i++)
		if (tree->nodes[i].pid == pid)
			return true;
	return false;
}

/* Reads each node from /proc and puts the root (parent outside) first. */
static bool read_tree(struct tree *tree)
{
	struct node root;
	int i;

	for (i = 0; i < tree->n; i++)
		if (!read_node(tree->nodes[i].pid, &tree->nodes[i]))
			return false;
	for (i = 0; i < tree->n && in_tree(tree, tree->nodes[i].ppid); i++)
		;
	if (i == tree->n)
		return false;
	root = tree->nodes[i];
	tree->nodes[i] = tree->nodes[0];
	tree->nodes[0] = root;
	return true;
}

/* The first line of text that is a number (the tree's processes write
 * "ready" lines to crpid's standard output too). */
static pid_t number_line(const char *text)
{
	const char *line;

	for (line = text; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL)
		if (*line >= '0' && *line <= '9' &&
		    line[strspn(line, "0123456789")] == '\n')
			return atoi(line);
	return -1;
}

static void kill_tree(const struct tree *tree)
{
	int i;
	pid_t pids[TREE_MAX];

	for (i = 0; i < tree->n; i++) {
		kill(tree->nodes[i].pid, SIGKILL);
		pids[i] = tree->nodes[i].pid;
	}
	wait_gone(pids, tree->n);
}

/* Every PID, session and group ID the tree needs is free again. */
static bool tree_gone(const struct tree *tree)
{
	pid_t pids[3 * TREE_MAX];
	int i, n = 0;

	for (i = 0; i < tree->n; i++) {
		pids[n++] = tree->nodes[i].pid;
		pids[n++] = tree->nodes[i].pgid;
		pids[n++] = tree->nodes[i].sid;
	}
	return wait_gone(pids, n);
}

/*
 * Forks until the kernel hands out PIDs above the tree's: after a restore
 * through ns_last_pid the next PID is inside the tree's range, and crpid
 * itself would then start at one of the tree's PIDs (which it refuses).
 */
static void advance_pids_past(const struct tree *tree)
{
	pid_t highest = 0, pid;
	int i;

	for (i = 0; i < tree->n; i++)
		if (tree->nodes[i].pid > highest)
			highest = tree->nodes[i].pid;
	do {
		pid = fork();
		if (pid == 0)
			_exit(0);
		if (pid > 0)
			waitpid(pid, NULL, 0);
	} while (pid > 0 && pid <= highest);
}

/* Does each restored process have its recorded parent, group, session? */
static bool tree_matches(const struct tree *want, pid_t root, char *why,
			 size_t size)
{
	struct node got;
	char path[48], status[4096];
	int i;

	for (i = 0; i < want->n; i++) {
		const struct node *w = &want->nodes[i];

		if (!read_node(w->pid, &got)) {
			snprintf(why, size, "no process at PID %d", w->pid);
			return false;
		}
		/* The root's parent is crpid's, not the recorded one. */
		if ((w->pid != root && got.ppid != w->ppid) ||
		    got.pgid != w->pgid || got.sid != w->sid) {
			snprintf(why, size, "PID %d: ppid/pgid/sid %d/%d/%d, "
				 "recorded %d/%d/%d", w->pid, got.ppid,
				 got.pgid, got.sid, w->ppid, w->pgid, w->sid);
			return false;
		}
		/* A placeholder (a leader outside the tree) has exited. */
		if ((!in_tree(want, w->pgid) && pid_exists(w->pgid)) ||
		    (!in_tree(want, w->sid) && pid_exists(w->sid))) {
			snprintf(why, size, "a placeholder of PID %d is left",
				 w->pid);
			return false;
		}
		snprintf(path, sizeof(path), "/proc/%d/status", w->pid);
		read_all(path, status, sizeof(status));
		if (!has_value(status, "CapEff:", "0000000000000000") ||
		    !has_value(status, "CapPrm:", "0000000000000000") ||
		    !strstr(status, "\nUid:\t65534\t")) {
			snprintf(why, size, "PID %d: not uid %d with no "
				 "capability", w->pid, NOBODY);
			return false;
		}
	}
	snprintf(why, size, "%d processes at their PIDs, parents, groups, "
		 "sessions; uid %d, no capability", want->n, NOBODY);
	return true;
}

static void describe_tree(const struct tree *t, char *text, size_t size)
{
	size_t used = 0;
	int i;

	text[0] = '\0';
	for (i = 0; i < t->n && used < size; i++)
		used += snprintf(text + used, size - used, "%s%d(%d,%d,%d)",
				 i ? " " : "", t->nodes[i].pid,
				 t->nodes[i].ppid, t->nodes[i].pgid,
				 t->nodes[i].sid);
}

/* fork-tree --detach FILE, then compares with what was recorded. */
static void check_fork_tree(const char *name, const char *file,
			    const struct tree *want, bool without_clone3)
{
	char *argv[] = { CRPID_CAP, "fork-tree", "--detach", (char *)file,
			 NULL };
	char why[256], shape[256];
	pid_t root = want->nodes[0].pid;
	bool gone = tree_gone(want), ok;

	describe_tree(want, shape, sizeof(shape));
	advance_pids_past(want);
	run(argv, without_clone3);
	ok = gone && o.status == 0 && number_line(o.out) == root &&
	     tree_matches(want, root, why, sizeof(why));
	if (!gone)
		snprintf(why, sizeof(why), "the tree's PIDs were not freed");
	else if (o.status != 0 || number_line(o.out) != root)
		snprintf(why, sizeof(why), "printed '%.16s', want %d", o.out,
			 root);
	result(name, ok, "%s%s: %s [pid(ppid,pgid,sid): %s] exit=%d %s",
	       without_clone3 ? "clone3 ENOSYS, " : "",
	       set_tid_works && !without_clone3 ? "clone3" : "ns_last_pid",
	       why, shape, o.status, o.err);
	kill_tree(want);
}

/* tree save, kill, fork-tree (clone3 and the fallback), then refused. */
static void check_trees(void)
{
	char *save_argv[] = { CRPID_CAP, "tree", "save", NULL, "-o", TREE_FILE,
			      NULL };
	char *refused_argv[] = { CRPID_NOCAP, "fork-tree", TREE_FILE, NULL };
	char root_arg[16], shape[256];
	struct tree tree;
	pid_t builder;
	bool built = start_tree("make-tree", 5, &tree, &builder) &&
		     read_tree(&tree);
	bool saved;

	describe_tree(&tree, shape, sizeof(shape));
	snprintf(root_arg, sizeof(root_arg), "%d", tree.nodes[0].pid);
	save_argv[3] = root_arg;
	if (built)
		run(save_argv, false);
	saved = built && o.status == 0;
	result("tree-save", saved, "5 processes, 2 sessions, 3 groups [%s] "
	       "exit=%d %s", shape, built ? o.status : -1, o.err);
	kill_tree(&tree);
	if (!saved) {
		result("fork-tree", false, "no tree saved");
		result("fork-tree-ns-last-pid", false, "no tree saved");
		result("cap-absent-fork-tree", false, "no tree saved");
		return;
	}
	check_fork_tree("fork-tree", TREE_FILE, &tree, false);
	check_fork_tree("fork-tree-ns-last-pid", TREE_FILE, &tree, true);
	tree_gone(&tree);
	advance_pids_past(&tree);
	run(refused_argv, false);
	result("cap-absent-fork-tree", one_line_failure("fork-tree") &&
	       strstr(o.err, "CAP_CHECKPOINT_RESTORE") &&
	       !pid_exists(tree.nodes[1].pid), "exit=%d %s", o.status, o.err);
}

/* A session and a group whose leaders are not in the tree: placeholders. */
static void check_placeholders(void)
{
	char *save_argv[] = { CRPID_CAP, "tree", "save", NULL, "-o",
			      ORPHANS_FILE, NULL };
	char root_arg[16], shape[256];
	struct tree tree;
	pid_t builder;
	bool built = start_tree("make-orphans", 2, &tree, &builder);

	wait_reaping(builder);	/* the session leader exits by design */
	built = built && read_tree(&tree) &&
		tree.nodes[0].sid != tree.nodes[0].pid &&
		tree.nodes[1].pgid != tree.nodes[1].pid &&
		tree.nodes[1].pgid != tree.nodes[0].pgid;
	describe_tree(&tree, shape, sizeof(shape));
	snprintf(root_arg, sizeof(root_arg), "%d", tree.nodes[0].pid);
	save_argv[3] = root_arg;
	if (built)
		run(save_argv, false);
	kill_tree(&tree);
	if (!built || o.status != 0) {
		result("fork-tree-placeholders", false, "tree save: [%s] "
		       "exit=%d %s", shape, built ? o.status : -1, o.err);
		return;
	}
	check_fork_tree("fork-tree-placeholders", ORPHANS_FILE, &tree, false);
}

/* ----- helpers (not PID 1) ---------------------------------------------- */

/* Helper: maps a deleted file and a memfd with known patterns, waits. */
static int hold(void)
{
	static unsigned char buf[DELETED_SIZE];
	int file = open(DELETED_FILE, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC,
			0600);
	int memfd = memfd_create("crpid-boot-test", MFD_CLOEXEC);
	size_t i;

	for (i = 0; i < DELETED_SIZE; i++)
		buf[i] = pattern_byte(i, 3);
	if (file < 0 || write(file, buf, DELETED_SIZE) != DELETED_SIZE ||
	    mmap(NULL, DELETED_SIZE, PROT_READ, MAP_SHARED, file, 0) ==
		    MAP_FAILED || unlink(DELETED_FILE))
		return perror("hold: deleted file"), 1;
	for (i = 0; i < MEMFD_SIZE; i++)
		buf[i] = pattern_byte(i, 7);
	if (memfd < 0 || write(memfd, buf, MEMFD_SIZE) != MEMFD_SIZE ||
	    mmap(NULL, MEMFD_SIZE, PROT_READ, MAP_SHARED, memfd, 0) ==
		    MAP_FAILED)
		return perror("hold: memfd"), 1;
	/* Only the mappings keep them: map_files must reach them. */
	close(file);
	close(memfd);
	say("ready");
	for (;;)
		pause();
}

/* A tree's process: says so on fd 1 (if open), closes it and waits. */
static int node(void)
{
	say("ready %d", getpid());
	close(STDOUT_FILENO);
	for (;;)
		pause();
	return 0;
}

static void exec_node(void)
{
	execl(SELF, SELF, "node", (char *)NULL);
	_exit(127);
}

/*
 * Forks a child that runs setup (setsid or setpgid or nothing) and then
 * either forks its own child or becomes a node.
 */
static pid_t fork_child(int how)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (how == 1 && setsid() < 0)
		_exit(126);
	if (how == 2 && setpgid(0, 0))
		_exit(126);
	return 0;
}

/*
 * R (session R, group R) with children A (group A) and B (session B); A's
 * child C in group A, B's child D in group B: 5 processes, sessions R and
 * B, groups R, A and B. Each becomes a node; the nodes print their PIDs.
 */
static int make_tree(void)
{
	if (setsid() < 0)
		return perror("make-tree: setsid"), 1;
	if (fork_child(2) == 0) {		/* A */
		if (fork_child(0) == 0)		/* C */
			exec_node();
		exec_node();
	}
	if (fork_child(1) == 0) {		/* B */
		if (fork_child(0) == 0)		/* D */
			exec_node();
		exec_node();
	}
	exec_node();				/* R */
	return 127;
}

/*
 * X (session X) forks Y and exits; Y, a child subreaper, forks C (group
 * C), which forks D and exits. The tree Y, D has session X and group X
 * (Y's) and group C (D's) without their leaders.
 */
static int make_orphans(void)
{
	pid_t c;

	if (setsid() < 0)
		return perror("make-orphans: setsid"), 1;
	if (fork_child(0) != 0)
		return 0;			/* X exits */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1))	/* Y */
		_exit(126);
	c = fork_child(2);
	if (c == 0) {				/* C */
		if (fork_child(0) == 0)		/* D */
			exec_node();
		_exit(0);
	}
	waitpid(c, NULL, 0);
	exec_node();				/* Y */
	return 127;
}

/* The auxv keys, and the values execve sets alike for every program. */
static int print_auxv(void)
{
	static const unsigned long same[] = { AT_PAGESZ, AT_CLKTCK, AT_UID,
		AT_EUID, AT_GID, AT_EGID, AT_SECURE, AT_HWCAP, AT_HWCAP2,
		AT_FLAGS, 51 /* AT_MINSIGSTKSZ */ };
	unsigned long pairs[2 * 64];
	char keys[512] = "", text[8192] = "";
	size_t used = 0, k = 0, i, j;
	int fd = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, pairs, sizeof(pairs));

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return 1;
	for (i = 0; i + 1 < (size_t)n / sizeof(long) && pairs[i]; i += 2) {
		k++;
		used += snprintf(keys + used, sizeof(keys) - used, "%s%lu",
				 used ? "," : "", pairs[i]);
		for (j = 0; j < ARRAY_SIZE(same); j++)
			if (pairs[i] == same[j])
				snprintf(text + strlen(text),
					 sizeof(text) - strlen(text),
					 "at%lu=%lu\n", pairs[i],
					 pairs[i + 1]);
	}
	say("keys=%zu: %s", k, keys);
	say("%sat_platform=%s\nat_execfn=%s", text,
	    (const char *)getauxval(AT_PLATFORM),
	    (const char *)getauxval(AT_EXECFN));
	return 0;
}

static int helper(const char *mode)
{
	char status[4096], exe[256] = "", *line;

	if (!strcmp(mode, "pid")) {
		say("pid=%d", getpid());
		return 0;
	}
	if (!strcmp(mode, "exe")) {
		if (readlink("/proc/self/exe", exe, sizeof(exe) - 1) < 0)
			return 1;
		say("exe=%s", exe);
		return 0;
	}
	if (!strcmp(mode, "caps")) {
		read_all("/proc/self/status", status, sizeof(status));
		for (line = strstr(status, "\nCap"); line;
		     line = strstr(line + 1, "\nCap")) {
			char text[64];

			first_line(line + 1, text, sizeof(text));
			say("%s", text);
		}
		return 0;
	}
	if (!strcmp(mode, "auxv"))
		return print_auxv();
	if (!strcmp(mode, "hold"))
		return hold();
	if (!strcmp(mode, "node"))
		return node();
	if (!strcmp(mode, "make-tree"))
		return make_tree();
	if (!strcmp(mode, "make-orphans"))
		return make_orphans();
	fprintf(stderr, "init: unknown mode %s\n", mode);
	return 2;
}

/* Mounts what the checks need and puts the console on fds 0-2. */
static void set_up(void)
{
	int fd;

	mkdir("/dev", 0755);
	if (mount("devtmpfs", "/dev", "devtmpfs", 0, NULL))
		mknod("/dev/console", S_IFCHR | 0600, makedev(5, 1));
	fd = open("/dev/console", O_RDWR);
	if (fd >= 0) {
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		if (fd > 2)
			close(fd);
	}
	mkdir("/proc", 0555);
	if (mount("proc", "/proc", "proc", 0, NULL))
		say("CHECK mount /proc failed: %m");
	/* No nosuid: the kernel ignores file capabilities on such mounts. */
	mkdir(WORK, 01777);
	if (mount("tmpfs", WORK, "tmpfs", 0, "mode=1777"))
		say("CHECK mount tmpfs on " WORK " failed: %m");
}

int main(int argc, char **argv)
{
	char last_cap[16], machine[64];
	struct utsname u;

	if (getpid() != 1)
		return argc == 2 ? helper(argv[1]) : 2;
	set_up();
	uname(&u);
	read_all("/proc/sys/kernel/cap_last_cap", last_cap, sizeof(last_cap));
	first_line(last_cap, machine, sizeof(machine));
	say("CHECK kernel %s %s cap_last_cap=%s", u.release, u.machine,
	    machine);
	if (copy_file("/crpid", CRPID_CAP) || copy_file("/crpid", CRPID_NOCAP) ||
	    copy_file(SELF, EXE_TARGET))
		say("CHECK copy to " WORK " failed: %m");
	if (set_file_capability(CRPID_CAP))
		say("CHECK setxattr security.capability failed: %m");

	check_caller_caps();
	check_check("check", false);	/* first: it says what to expect */
	check_check("check-clone3-enosys", true);
	check_fork_at("fork-at-clone3", "clone3", false, 300);
	check_fork_at("fork-at-ns-last-pid", "auto", true, 500);
	check_forced_ns_last_pid();
	check_pid_map();
	check_wait();
	check_check_option();
	check_map_files_dump();
	check_set_mm("set-mm-static", "/probe/set_mm_probe_static", false);
	check_set_mm("set-mm-static-pie", "/probe/set_mm_probe_static_pie",
		     false);
	check_set_mm("set-mm-dynamic", "/probe/set_mm_probe_dynamic", true);
	check_set_mm_foreign();
	check_set_mm_exe();
	check_set_mm_auxv();
	check_trees();
	check_placeholders();
	check_refused();
	check_set_mm_refused();
	check_check_refused();

	say("CHECKS DONE pass=%d fail=%d", passed, failed);
	sync();
	reboot(RB_AUTOBOOT);	/* qemu -no-reboot exits */
	for (;;)
		pause();
}
