/*
 * PID 1 of crpid's boot test (see boot-test.sh). As root it prepares two
 * copies of crpid on a tmpfs, one with the file capability
 * cap_checkpoint_restore+ep and one without, then runs fork-at,
 * map-files-dump and set-mm with each copy as uid/gid 65534 and prints one
 * RESULT line per check on the console. Then it reboots (qemu -no-reboot
 * exits).
 *
 * Run with an argument (not as PID 1) it is a helper for those checks:
 *   guest_init pid          print "pid=<getpid()>"
 *   guest_init exe          print "exe=<readlink /proc/self/exe>"
 *   guest_init hold-memfd   map a memfd, print "ready", wait for SIGKILL
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#define NOBODY 65534
#define CAP_CR 40		/* CAP_CHECKPOINT_RESTORE */
#define MEMFD_SIZE 12345	/* not page aligned on purpose */
#define SELF "/init"
#define WORK "/t"
#define EXE_TARGET WORK "/exe-target"
#define OUT_FILE WORK "/out"
#define ERR_FILE WORK "/err"
#define O_NEWFILE (O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static bool expect_pass = true;	/* false: crpid_expect=refused */
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

static unsigned char pattern_byte(size_t i)
{
	return (unsigned char)(i * 131 + 7);
}

/* Reads up to size - 1 bytes of a file; cuts at the first newline. */
static void read_line(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? 0 : read(fd, buf, size - 1);

	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
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

/* In a forked child: become nobody, with no supplementary groups. */
static void drop_to_nobody(void)
{
	if (setgroups(0, NULL) || setresgid(NOBODY, NOBODY, NOBODY) ||
	    setresuid(NOBODY, NOBODY, NOBODY)) {
		perror("drop to nobody");
		_exit(126);
	}
}

/* Starts argv as nobody with stdout and stderr on the given descriptors. */
static pid_t spawn_nobody(char *const argv[], int out, int err)
{
	pid_t pid = fork();

	if (pid != 0)
		return pid;
	if (dup2(out, STDOUT_FILENO) < 0 || dup2(err, STDERR_FILENO) < 0)
		_exit(126);
	drop_to_nobody();
	execv(argv[0], argv);
	perror(argv[0]);
	_exit(127);
}

struct outcome {
	int status;		/* exit code, or 128 + signal */
	char out[512];		/* first line of stdout */
	char err[512];		/* first line of stderr */
};

/* Runs argv as nobody and waits; stdout and stderr go through files. */
static void run(char *const argv[], struct outcome *o)
{
	int out = open(OUT_FILE, O_NEWFILE, 0644);
	int err = open(ERR_FILE, O_NEWFILE, 0644);
	pid_t pid = out < 0 || err < 0 ? -1 : spawn_nobody(argv, out, err);
	int status = 0;

	if (out >= 0)
		close(out);
	if (err >= 0)
		close(err);
	o->status = 255;
	if (pid > 0 && waitpid(pid, &status, 0) == pid)
		o->status = WIFEXITED(status) ? WEXITSTATUS(status) :
						128 + WTERMSIG(status);
	read_line(OUT_FILE, o->out, sizeof(o->out));
	read_line(ERR_FILE, o->err, sizeof(o->err));
}

/*
 * crpid refused as documented: exit 125 and one "crpid: CMD: ..." line
 * saying "Operation not permitted"; on a kernel without the capability the
 * remedy must point at kernel-patch/.
 */
static bool refused(const struct outcome *o, const char *cmd)
{
	char prefix[64];

	snprintf(prefix, sizeof(prefix), "crpid: %s: ", cmd);
	return o->status == 125 && !strncmp(o->err, prefix, strlen(prefix)) &&
	       strstr(o->err, "Operation not permitted") &&
	       (expect_pass || strstr(o->err, "kernel-patch/"));
}

/*
 * Prints the RESULT line. With --expect pass the capability copy must work
 * and the other must be refused; with --expect refused both are refused.
 */
static void judge(const char *variant, const char *cmd, bool worked,
		  const char *detail, const struct outcome *o)
{
	bool want_work = expect_pass && !strcmp(variant, "cap-present");
	bool ok = want_work ? worked : !worked && refused(o, cmd);

	if (ok && want_work)
		say("RESULT %s %s PASS %s", variant, cmd, detail);
	else if (ok)
		say("RESULT %s %s PASS refused: %s", variant, cmd, o->err);
	else
		say("RESULT %s %s FAIL want %s: %s exit=%d out='%s' err='%s'",
		    variant, cmd, want_work ? "success" : "refusal", detail,
		    o->status, o->out, o->err);
	if (ok)
		passed++;
	else
		failed++;
}

static pid_t free_pid(void)
{
	char path[32];
	pid_t pid;

	for (pid = 300;; pid++) {
		snprintf(path, sizeof(path), "/proc/%d", pid);
		if (access(path, F_OK))
			return pid;
	}
}

static void check_fork_at(const char *crpid, const char *variant)
{
	char pid_arg[16], want[32], detail[64];
	pid_t pid = free_pid();
	char *argv[] = { (char *)crpid, "fork-at", "--method", "auto", pid_arg,
			 "--", SELF, "pid", NULL };
	struct outcome o;

	snprintf(pid_arg, sizeof(pid_arg), "%d", pid);
	snprintf(want, sizeof(want), "pid=%d", pid);
	run(argv, &o);
	snprintf(detail, sizeof(detail), "%s (free PID %d)",
		 o.out[0] ? o.out : "no output", pid);
	judge(variant, "fork-at", o.status == 0 && !strcmp(o.out, want),
	      detail, &o);
}

/* Compares the single file under DIR/files with the memfd's pattern. */
static bool dump_matches(const char *dir, char *detail, size_t size)
{
	static unsigned char buf[MEMFD_SIZE + 1];
	char files[256], path[512];
	struct dirent *entry;
	DIR *d;
	int count = 0, fd;
	ssize_t n = -1;
	size_t i;

	snprintf(files, sizeof(files), "%s/files", dir);
	d = opendir(files);
	if (!d) {
		snprintf(detail, size, "no %s", files);
		return false;
	}
	while ((entry = readdir(d)))
		if (entry->d_name[0] != '.' && count++ == 0)
			snprintf(path, sizeof(path), "%s/%s", files,
				 entry->d_name);
	closedir(d);
	if (count != 1) {
		snprintf(detail, size, "%d files saved, want 1", count);
		return false;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		n = read(fd, buf, sizeof(buf));
		close(fd);
	}
	for (i = 0; n == MEMFD_SIZE && i < MEMFD_SIZE; i++)
		if (buf[i] != pattern_byte(i))
			break;
	if (n != MEMFD_SIZE || i != MEMFD_SIZE) {
		snprintf(detail, size, "%s: %zd bytes, differs at %zu", path,
			 n, i);
		return false;
	}
	snprintf(detail, size, "%s: %d bytes equal", path, MEMFD_SIZE);
	return true;
}

static void check_map_files_dump(const char *crpid, const char *variant)
{
	char *holder_argv[] = { SELF, "hold-memfd", NULL };
	char pid_arg[16], dir[64], ready[16] = "", detail[640], why[512];
	char *dump_argv[] = { (char *)crpid, "map-files-dump", "--only",
			      "memfd", pid_arg, "-o", dir, NULL };
	char *verify_argv[] = { (char *)crpid, "map-files-dump", "--verify",
				dir, NULL };
	struct outcome o, v;
	bool worked = false;
	int pipefd[2];
	pid_t holder;

	snprintf(dir, sizeof(dir), WORK "/dump-%s", variant);
	if (pipe2(pipefd, O_CLOEXEC)) {
		say("RESULT %s map-files-dump FAIL pipe: %m", variant);
		failed++;
		return;
	}
	holder = spawn_nobody(holder_argv, pipefd[1], STDERR_FILENO);
	close(pipefd[1]);
	if (holder < 0 || read(pipefd[0], ready, sizeof(ready) - 1) <= 0 ||
	    strncmp(ready, "ready", 5)) {
		o = (struct outcome){ .status = 255 };
		judge(variant, "map-files-dump", false, "memfd holder failed",
		      &o);
		goto out;
	}
	snprintf(pid_arg, sizeof(pid_arg), "%d", holder);
	run(dump_argv, &o);
	if (o.status == 0 && dump_matches(dir, why, sizeof(why))) {
		run(verify_argv, &v);
		worked = v.status == 0;
		snprintf(detail, sizeof(detail), "%s; --verify exit=%d %s", why,
			 v.status, v.out);
	} else if (o.status == 0) {
		snprintf(detail, sizeof(detail), "%s", why);
	} else {
		/* A refused dump must leave nothing behind. */
		snprintf(detail, sizeof(detail), "%s %s", dir,
			 access(dir, F_OK) ? "absent" : "left behind");
		if (!access(dir, F_OK))
			o.status = -1;
	}
	judge(variant, "map-files-dump", worked, detail, &o);
out:
	close(pipefd[0]);
	if (holder > 0) {
		kill(holder, SIGKILL);
		waitpid(holder, NULL, 0);
	}
}

static void check_set_mm(const char *crpid, const char *variant)
{
	char *argv[] = { (char *)crpid, "set-mm", "--exe", EXE_TARGET, "--",
			 SELF, "exe", NULL };
	struct outcome o;

	run(argv, &o);
	judge(variant, "set-mm",
	      o.status == 0 && !strcmp(o.out, "exe=" EXE_TARGET),
	      o.out[0] ? o.out : "no output", &o);
}

/* Helper: keeps a memfd with a known pattern mapped, then waits. */
static int hold_memfd(void)
{
	static unsigned char buf[MEMFD_SIZE];
	int fd = memfd_create("crpid-boot-test", MFD_CLOEXEC);
	size_t i;

	for (i = 0; i < MEMFD_SIZE; i++)
		buf[i] = pattern_byte(i);
	if (fd < 0 || write(fd, buf, MEMFD_SIZE) != MEMFD_SIZE ||
	    mmap(NULL, MEMFD_SIZE, PROT_READ, MAP_SHARED, fd, 0) ==
		    MAP_FAILED) {
		perror("hold-memfd");
		return 1;
	}
	close(fd);	/* only the mapping keeps it: map_files must reach it */
	say("ready");
	for (;;)
		pause();
}

static int helper(const char *mode)
{
	char exe[256] = "";

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
	if (!strcmp(mode, "hold-memfd"))
		return hold_memfd();
	fprintf(stderr, "guest_init: unknown mode %s\n", mode);
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

static void power_off(void)
{
	sync();
	reboot(RB_AUTOBOOT);	/* qemu -no-reboot exits */
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	static const char *const variants[][2] = {
		{ "cap-present", WORK "/crpid-cap" },
		{ "cap-absent", WORK "/crpid-nocap" },
	};
	char cmdline[1024], last_cap[16];
	struct utsname u;
	size_t i;

	if (getpid() != 1)
		return argc == 2 ? helper(argv[1]) : 2;
	set_up();
	uname(&u);
	read_line("/proc/sys/kernel/cap_last_cap", last_cap, sizeof(last_cap));
	read_line("/proc/cmdline", cmdline, sizeof(cmdline));
	expect_pass = !strstr(cmdline, "crpid_expect=refused");
	say("CHECK kernel %s cap_last_cap=%s expect=%s", u.release, last_cap,
	    expect_pass ? "pass" : "refused");
	if (copy_file("/crpid", variants[0][1]) ||
	    copy_file("/crpid", variants[1][1]) ||
	    copy_file(SELF, EXE_TARGET))
		say("CHECK copy to " WORK " failed: %m");
	if (set_file_capability(variants[0][1]))
		say("CHECK setxattr security.capability failed: %m");
	for (i = 0; i < ARRAY_SIZE(variants); i++) {
		check_fork_at(variants[i][1], variants[i][0]);
		check_map_files_dump(variants[i][1], variants[i][0]);
		check_set_mm(variants[i][1], variants[i][0]);
	}
	say("CHECKS DONE pass=%d fail=%d", passed, failed);
	power_off();
	return 0;
}
