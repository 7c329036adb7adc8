/*
 * PID 1 of crpid's arm64 boot test (see arm64-boot-test.sh), built static
 * with aarch64-linux-gnu-gcc. As root it copies crpid to a tmpfs twice and
 * gives one copy the file capability cap_checkpoint_restore+ep (an xattr
 * does not survive the initramfs' cpio, so it is set here). Every check then
 * runs crpid as uid/gid 65534 from a child whose capability sets are all
 * empty, the way a user's shell starts it, and prints one RESULT line:
 *
 *   caller-caps               the checks' caller holds no capability
 *   fork-at-clone3            fork-at --method clone3 lands on a free PID
 *   fork-at-ns-last-pid       the same under a seccomp filter answering
 *                             ENOSYS for clone3 (Docker's default): --method
 *                             auto falls back to ns_last_pid
 *   map-files-dump-deleted    dump of a deleted file's mapping, bytes equal
 *   map-files-dump-memfd      dump of a memfd's mapping, bytes equal
 *   set-mm-static             set-mm of the static, static-pie and dynamic
 *   set-mm-static-pie         probes (tests/set_mm_probe.cc): exe link,
 *   set-mm-dynamic            argv, auxv, platform, capability sets
 *   set-mm-foreign            an x86_64 ELF is refused (exit 126)
 *   check                     crpid check: every feature, verdict "works"
 *   cap-absent-fork-at        the copy without the capability is refused
 *
 * Then it reboots (qemu -no-reboot exits). Run with an argument (not as
 * PID 1) it is a helper for those checks:
 *   init pid            print "pid=<getpid()>"
 *   init caps           print the Cap* lines of /proc/self/status
 *   init hold           map a deleted file and a memfd, print "ready", wait
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
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NOBODY 65534
#define CAP_CR 40		/* CAP_CHECKPOINT_RESTORE */
#define NR_CLONE3 435
#define SELF "/init"
#define WORK "/t"
#define CRPID_CAP WORK "/crpid-cap"
#define CRPID_NOCAP WORK "/crpid-nocap"
#define DELETED_FILE WORK "/deleted-data"
#define DELETED_SIZE 20000	/* sizes tell the two dumped files apart */
#define MEMFD_SIZE 12345	/* not page aligned on purpose */
#define OUT_FILE WORK "/out"
#define ERR_FILE WORK "/err"
#define O_NEWFILE (O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
#define OUTPUT_MAX 65536

static int passed, failed;

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

static void first_line(const char *text, char *line, size_t size)
{
	snprintf(line, size, "%.*s", (int)strcspn(text, "\n"), text);
}

/*
 * The value on the line "key=value" (the probe's) or "key\tvalue" (the
 * Cap* lines of /proc/PID/status), or NULL.
 */
static const char *value_of(const char *text, const char *key, char *value,
			    size_t size)
{
	size_t length = strlen(key);
	const char *line;

	for (line = text; line && *line; line = strchr(line, '\n'),
	     line = line ? line + 1 : NULL)
		if (!strncmp(line, key, length) &&
		    (line[length] == '=' || line[length] == '\t')) {
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
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_AARCH64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
			 offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, NR_CLONE3, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog program = {
		.len = sizeof(filter) / sizeof(filter[0]),
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
	char out[OUTPUT_MAX];	/* stdout */
	char err[512];		/* first line of stderr */
};

static struct outcome o;	/* one run at a time */

/* Runs argv as nobody and waits; stdout and stderr go through files. */
static void run(char *const argv[], bool without_clone3)
{
	int out = open(OUT_FILE, O_NEWFILE, 0644);
	int err = open(ERR_FILE, O_NEWFILE, 0644);
	pid_t pid = out < 0 || err < 0 ? -1 :
		spawn_nobody(argv, out, err, without_clone3);
	int status = 0;
	char err_text[4096];

	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	o.status = 255;
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		o.status = WIFEXITED(status) ? WEXITSTATUS(status) :
						128 + WTERMSIG(status);
	read_all(OUT_FILE, o.out, sizeof(o.out));
	read_all(ERR_FILE, err_text, sizeof(err_text));
	first_line(err_text, o.err, sizeof(o.err));
}

static pid_t free_pid(pid_t from)
{
	char path[32];
	pid_t pid;

	for (pid = from;; pid++) {
		snprintf(path, sizeof(path), "/proc/%d", pid);
		if (access(path, F_OK))
			return pid;
	}
}

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

static void check_fork_at(const char *name, const char *crpid,
			  const char *method, bool without_clone3, pid_t from)
{
	char pid_arg[16], want[32], said[64];
	pid_t pid = free_pid(from);
	char *argv[] = { (char *)crpid, "fork-at", "--method", (char *)method,
			 pid_arg, "--", SELF, "pid", NULL };

	snprintf(pid_arg, sizeof(pid_arg), "%d", pid);
	snprintf(want, sizeof(want), "pid=%d", pid);
	run(argv, without_clone3);
	first_line(o.out, said, sizeof(said));
	result(name, o.status == 0 && has_value(o.out, "pid", want + 4),
	       "--method %s%s: free PID %d, the child said '%s' exit=%d %s",
	       method, without_clone3 ? " (clone3 ENOSYS)" : "", pid, said,
	       o.status, o.err);
}

static void check_refused(void)
{
	char pid_arg[16];
	char *argv[] = { CRPID_NOCAP, "fork-at", pid_arg, "--", SELF, "pid",
			 NULL };

	snprintf(pid_arg, sizeof(pid_arg), "%d", free_pid(700));
	run(argv, false);
	result("cap-absent-fork-at",
	       o.status == 125 && strstr(o.err, "crpid: fork-at: ") == o.err &&
		       strstr(o.err, "Operation not permitted"),
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

static void check_map_files_dump(void)
{
	char *holder_argv[] = { SELF, "hold", NULL };
	char ready[16] = "";
	int pipefd[2];
	pid_t holder;

	if (pipe2(pipefd, O_CLOEXEC)) {
		result("map-files-dump", false, "pipe: %s", strerror(errno));
		return;
	}
	holder = spawn_nobody(holder_argv, pipefd[1], STDERR_FILENO, false);
	close(pipefd[1]);
	if (holder < 0 || read(pipefd[0], ready, sizeof(ready) - 1) <= 0 ||
	    strncmp(ready, "ready", 5)) {
		result("map-files-dump", false, "the holder failed");
	} else {
		check_dump(holder, "deleted", DELETED_SIZE, 3);
		check_dump(holder, "memfd", MEMFD_SIZE, 7);
	}
	close(pipefd[0]);
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
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
	EXPECT("at_platform", "aarch64");
	EXPECT("at_secure", "0");
	EXPECT("at_uid", "65534");
	EXPECT("at_pagesz", "4096");
	EXPECT("at_base_set", dynamic ? "1" : "0");
	EXPECT("sigusr1_blocked", "0");
	EXPECT("fds_above_2", "0");
	for (i = 0; i < sizeof(ones) / sizeof(ones[0]); i++)
		EXPECT(ones[i], "1");
	for (i = 0; i < sizeof(zero_sets) / sizeof(zero_sets[0]); i++)
		EXPECT(zero_sets[i], "0000000000000000");
#undef EXPECT
	/* crpid's own image is gone: the probe maps no crpid file. */
	if (!bad[0] && strstr(o.out, "mapped=" WORK "/crpid"))
		snprintf(bad, sizeof(bad), "crpid still mapped");
	result(name, o.status == 0 && !bad[0],
	       "%s exit=%d: %s%s", probe, o.status,
	       bad[0] ? bad : "exe argv auxv platform=aarch64 caps=0 as execve",
	       o.status ? o.err : "");
}

/* A copy of the static probe marked x86_64 is refused, exit 126, one line. */
static void check_set_mm_foreign(void)
{
	static const char foreign[] = WORK "/x86_64-probe";
	char *argv[] = { CRPID_CAP, "set-mm", "--", (char *)foreign, NULL };
	const unsigned short x86_64 = EM_X86_64;
	char want[160];
	int fd;

	if (copy_file("/probe/set_mm_probe_static", foreign) ||
	    (fd = open(foreign, O_WRONLY | O_CLOEXEC)) < 0) {
		result("set-mm-foreign", false, "cannot copy the probe");
		return;
	}
	if (pwrite(fd, &x86_64, 2, offsetof(Elf64_Ehdr, e_machine)) != 2)
		say("CHECK pwrite e_machine failed: %m");
	close(fd);
	snprintf(want, sizeof(want),
		 "crpid: set-mm: %s: built for another machine "
		 "(e_machine %d, not aarch64)", foreign, EM_X86_64);
	run(argv, false);
	result("set-mm-foreign", o.status == 126 && !o.out[0] &&
	       !strncmp(o.err, want, strlen(want)),
	       "exit=%d %s", o.status, o.err);
}

static void check_check(void)
{
	char *argv[] = { CRPID_CAP, "check", NULL };
	char *verdict;

	run(argv, false);
	verdict = strstr(o.out, "verdict: ");
	result("check", o.status == 0 && verdict &&
	       !strncmp(verdict, "verdict: crpid works here", 25),
	       "exit=%d %.60s", o.status, verdict ? verdict : o.err);
	if (o.status != 0)	/* which feature said no */
		say("CHECK crpid check said:\n%s", o.out);
}

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

static int helper(const char *mode)
{
	char status[4096], *line;

	if (!strcmp(mode, "pid")) {
		say("pid=%d", getpid());
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
	if (!strcmp(mode, "hold"))
		return hold();
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
	if (copy_file("/crpid", CRPID_CAP) || copy_file("/crpid", CRPID_NOCAP))
		say("CHECK copy to " WORK " failed: %m");
	if (set_file_capability(CRPID_CAP))
		say("CHECK setxattr security.capability failed: %m");

	check_caller_caps();
	check_fork_at("fork-at-clone3", CRPID_CAP, "clone3", false, 300);
	check_fork_at("fork-at-ns-last-pid", CRPID_CAP, "auto", true, 500);
	check_map_files_dump();
	check_set_mm("set-mm-static", "/probe/set_mm_probe_static", false);
	check_set_mm("set-mm-static-pie", "/probe/set_mm_probe_static_pie",
		     false);
	check_set_mm("set-mm-dynamic", "/probe/set_mm_probe_dynamic", true);
	check_set_mm_foreign();
	check_check();
	check_refused();

	say("CHECKS DONE pass=%d fail=%d", passed, failed);
	sync();
	reboot(RB_AUTOBOOT);	/* qemu -no-reboot exits */
	for (;;)
		pause();
}
