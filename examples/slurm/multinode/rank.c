// SPDX-FileCopyrightText: 2026 The crpid developers
// SPDX-License-Identifier: GPL-2.0-or-later
// One rank of the multi-node example job, standing in for an MPI rank: it
// keeps its state (a counter and the bytes its work wrote) in a memfd
// mapping, has a child process, and counts work.
//
//   rank STATE            count; on SIGUSR1 checkpoint into STATE and exit
//   rank --resume STATE   restart from STATE's checkpoint, count on, report
//   rank --child RFD WFD  (the rank's child) say its PID on WFD, wait for
//                         EOF on RFD
//
// Checkpoint (SIGUSR1): write STATE/rank.N (count, checksum of the memfd,
// node, PIDs), save the memfd with `crpid map-files-dump --only memfd`
// into STATE/rank.N.maps, append "N PID" and "N.child PID" to STATE/pids,
// end the child, exit. Resume (run by `crpid fork-at --pid-map STATE/pids`
// at the rank's old PID): refill a new memfd from the dump, recreate the
// child at its old PID with `crpid fork-at --pid-map STATE/pids --key
// N.child`, count on, and report what the kernel says: PIDs, capability
// sets, count, checksum. N is SLURM_PROCID; crpid is $CRPID or `crpid`;
// with START_PID set, the child starts at START_PID+1 (crpid fork-at).
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MEMFD_BYTES (64 * 1024)
#define READY_COUNT 5    // count at which the rank says it is ready
#define RESUME_STEPS 3   // work steps after a restore
#define DUMP_ATTEMPTS 3  // a late checkpoint signal may stop a dump

struct Header {
  char magic[16];
  uint64_t rank;
  uint64_t count;
};

static const char kMagic[16] = "crpid-rank-v1";
static long g_rank = -1;
static volatile sig_atomic_t g_checkpoint = 0;

static void Die(const char* format, ...) {
  va_list args;
  va_start(args, format);
  fprintf(stderr, "rank %ld: ", g_rank);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  exit(1);
}

static void OnCheckpointSignal(int signal_number) {
  (void)signal_number;
  g_checkpoint = 1;
}

static const char* Crpid(void) {
  const char* crpid = getenv("CRPID");
  return crpid != NULL && crpid[0] != '\0' ? crpid : "crpid";
}

static const char* NodeName(void) {
  const char* node = getenv("SLURMD_NODENAME");
  return node != NULL ? node : "?";
}

static long RankNumber(void) {
  const char* procid = getenv("SLURM_PROCID");
  char* end = NULL;
  if (procid == NULL || procid[0] == '\0') Die("SLURM_PROCID is not set");
  long rank = strtol(procid, &end, 10);
  if (*end != '\0' || rank < 0 || rank > 1000000) Die("bad SLURM_PROCID %s", procid);
  return rank;
}

// FNV-1a, 64 bits: the application's own fingerprint of its state.
static uint64_t Checksum(const unsigned char* bytes, size_t size) {
  uint64_t hash = 14695981039346656037ULL;
  for (size_t i = 0; i < size; ++i) hash = (hash ^ bytes[i]) * 1099511628211ULL;
  return hash;
}

static struct Header* MapMemfd(int fd) {
  void* map = mmap(NULL, MEMFD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (map == MAP_FAILED) Die("mmap memfd: %s", strerror(errno));
  return map;
}

static void Step(struct Header* state) {
  unsigned char* data = (unsigned char*)(state + 1);
  const size_t data_bytes = MEMFD_BYTES - sizeof *state;
  state->count++;
  data[(state->count * 7919u) % data_bytes] = (unsigned char)(state->count * 31u + state->rank);
}

static void Nap(long milliseconds) {
  struct timespec pause = {0, milliseconds * 1000000L};
  nanosleep(&pause, NULL);  // EINTR: the checkpoint signal, handled by the caller
}

static int WaitFor(pid_t pid) {
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) Die("waitpid %d: %s", (int)pid, strerror(errno));
  }
  return status;
}

static void WriteAllOrDie(int fd, const char* text, const char* what) {
  size_t length = strlen(text);
  while (length > 0) {
    ssize_t n = write(fd, text, length);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) Die("write %s: %s", what, strerror(errno));
    text += n;
    length -= (size_t)n;
  }
}

// A file whose readers see all of text or nothing: a temporary of a fresh
// name (never an existing file or a symlink someone planted) renamed.
static void WriteFileAtomically(const char* path, const char* text) {
  char temporary[PATH_MAX];
  snprintf(temporary, sizeof temporary, "%s.XXXXXX", path);
  int fd = mkostemp(temporary, O_CLOEXEC);
  if (fd < 0) Die("create %s: %s", temporary, strerror(errno));
  if (fchmod(fd, 0644) != 0) Die("chmod %s: %s", temporary, strerror(errno));
  WriteAllOrDie(fd, text, temporary);
  if (fsync(fd) != 0 || close(fd) != 0) Die("write %s: %s", temporary, strerror(errno));
  if (rename(temporary, path) != 0) Die("rename %s: %s", path, strerror(errno));
}

// ---- the child ----

static int RunChild(const char* read_fd_text, const char* write_fd_text) {
  const int wait_fd = atoi(read_fd_text);
  const int hello_fd = atoi(write_fd_text);
  signal(SIGUSR1, SIG_IGN);  // the checkpoint signal reaches the whole step
  char hello[32];
  snprintf(hello, sizeof hello, "%d\n", (int)getpid());
  WriteAllOrDie(hello_fd, hello, "hello pipe");
  close(hello_fd);
  char byte;
  while (read(wait_fd, &byte, 1) < 0 && errno == EINTR) {
  }
  return 0;
}

struct Child {
  pid_t pid;      // the process to reap: the child, or crpid above it
  pid_t said;     // the PID the child said it has
  int stop_fd;    // closing it ends the child
};

// Starts argv (ending in the child's "--child RFD WFD"); the child's PID
// comes back over a pipe, as the child itself sees it.
static struct Child StartChild(char** argv, int wait_pipe[2], int hello_pipe[2]) {
  struct Child child = {-1, -1, wait_pipe[1]};
  child.pid = fork();
  if (child.pid < 0) Die("fork: %s", strerror(errno));
  if (child.pid == 0) {
    execvp(argv[0], argv);
    fprintf(stderr, "rank: exec %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(wait_pipe[0]);
  close(hello_pipe[1]);
  char hello[32] = {0};
  ssize_t got = 0;
  // Up to the newline: crpid, when it runs the child, holds the write end.
  while ((size_t)got < sizeof hello - 1 && memchr(hello, '\n', (size_t)got) == NULL) {
    ssize_t n = read(hello_pipe[0], hello + got, sizeof hello - 1 - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += n;
  }
  close(hello_pipe[0]);
  if (got == 0) {
    int status = WaitFor(child.pid);
    Die("the child did not start (%s exited %d)", argv[0],
        WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
  }
  child.said = (pid_t)atoi(hello);
  return child;
}

// The pipes for a child: wait_pipe's read end and hello_pipe's write end
// are inherited (no close-on-exec); the rank's ends are not.
static void MakeChildPipes(int wait_pipe[2], int hello_pipe[2], char* rfd, char* wfd) {
  if (pipe(wait_pipe) != 0 || pipe(hello_pipe) != 0) Die("pipe: %s", strerror(errno));
  fcntl(wait_pipe[1], F_SETFD, FD_CLOEXEC);
  fcntl(hello_pipe[0], F_SETFD, FD_CLOEXEC);
  sprintf(rfd, "%d", wait_pipe[0]);
  sprintf(wfd, "%d", hello_pipe[1]);
}

static void StopChild(const struct Child* child) {
  close(child->stop_fd);
  int status = WaitFor(child->pid);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) Die("the child ended badly (%d)", status);
}

static void SelfPath(char* path) {
  ssize_t n = readlink("/proc/self/exe", path, PATH_MAX - 1);
  if (n < 0) Die("readlink /proc/self/exe: %s", strerror(errno));
  path[n] = '\0';
}

// ---- checkpoint ----

static int Dump(const char* state_dir) {
  char pid_text[16], output[PATH_MAX];
  snprintf(pid_text, sizeof pid_text, "%d", (int)getpid());
  snprintf(output, sizeof output, "%s/rank.%ld.maps", state_dir, g_rank);
  pid_t dumper = fork();
  if (dumper < 0) Die("fork: %s", strerror(errno));
  if (dumper == 0) {
    execlp(Crpid(), Crpid(), "map-files-dump", "--only", "memfd", "--force", pid_text, "-o",
           output, (char*)NULL);
    fprintf(stderr, "rank: exec %s: %s\n", Crpid(), strerror(errno));
    _exit(127);
  }
  int status = WaitFor(dumper);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

static void Checkpoint(const char* state_dir, struct Header* state, const struct Child* child) {
  char path[PATH_MAX], text[512];
  const uint64_t checksum = Checksum((const unsigned char*)state, MEMFD_BYTES);
  snprintf(path, sizeof path, "%s/rank.%ld", state_dir, g_rank);
  snprintf(text, sizeof text, "count=%" PRIu64 "\nchecksum=%016" PRIx64 "\nnode=%s\npid=%d\nchild=%d\n",
           state->count, checksum, NodeName(), (int)getpid(), (int)child->said);
  WriteFileAtomically(path, text);
  // The signal reaches every process of the step, and Slurm may still be
  // sending it when the dump starts: a dump it stops leaves nothing behind
  // (exit 128+SIGUSR1), so try again.
  int exit_code = 128 + SIGUSR1;
  for (int attempt = 0; attempt < DUMP_ATTEMPTS && exit_code == 128 + SIGUSR1; ++attempt) {
    exit_code = Dump(state_dir);
  }
  if (exit_code != 0) Die("crpid map-files-dump failed (exit %d)", exit_code);
  // One write per rank: O_APPEND writes of the ranks do not interleave.
  snprintf(path, sizeof path, "%s/pids", state_dir);
  snprintf(text, sizeof text, "%ld %d\n%ld.child %d\n", g_rank, (int)getpid(), g_rank,
           (int)child->said);
  int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) Die("open %s: %s", path, strerror(errno));
  if (write(fd, text, strlen(text)) != (ssize_t)strlen(text) || close(fd) != 0) {
    Die("append to %s: %s", path, strerror(errno));
  }
  StopChild(child);
  printf("checkpointed rank=%ld node=%s pid=%d child=%d count=%" PRIu64 " checksum=%016" PRIx64 "\n",
         g_rank, NodeName(), (int)getpid(), (int)child->said, state->count, checksum);
}

static int RunFromStart(const char* state_dir) {
  struct sigaction on_signal = {.sa_handler = OnCheckpointSignal};  // no SA_RESTART
  sigaction(SIGUSR1, &on_signal, NULL);
  int memfd = memfd_create("rank-state", MFD_CLOEXEC);
  if (memfd < 0 || ftruncate(memfd, MEMFD_BYTES) != 0) Die("memfd: %s", strerror(errno));
  struct Header* state = MapMemfd(memfd);
  memcpy(state->magic, kMagic, sizeof kMagic);
  state->rank = (uint64_t)g_rank;

  int wait_pipe[2], hello_pipe[2];
  char self[PATH_MAX], rfd[16], wfd[16];
  SelfPath(self);
  MakeChildPipes(wait_pipe, hello_pipe, rfd, wfd);
  // START_PID (checkpoint.sbatch): the rank runs there, its child at the
  // next PID, on every node alike.
  const char* start_pid = getenv("START_PID");
  char child_pid[24];
  char* plain[] = {self, "--child", rfd, wfd, NULL};
  char* at_pid[] = {(char*)Crpid(), "fork-at", child_pid, "--", self, "--child", rfd, wfd, NULL};
  if (start_pid != NULL && start_pid[0] != '\0') {
    snprintf(child_pid, sizeof child_pid, "%ld", strtol(start_pid, NULL, 10) + 1);
  }
  struct Child child = StartChild(start_pid != NULL && start_pid[0] != '\0' ? at_pid : plain,
                                  wait_pipe, hello_pipe);

  char ready[PATH_MAX];
  snprintf(ready, sizeof ready, "%s/ready.%ld", state_dir, g_rank);
  while (!g_checkpoint) {
    Step(state);
    if (state->count == READY_COUNT) WriteFileAtomically(ready, "");
    Nap(20);
  }
  Checkpoint(state_dir, state, &child);
  return 0;
}

// ---- resume ----

struct Recorded {
  uint64_t count;
  char checksum[32];
  char node[128];
};

static struct Recorded ReadRecorded(const char* state_dir) {
  char path[PATH_MAX], line[256];
  struct Recorded recorded = {0, "", ""};
  snprintf(path, sizeof path, "%s/rank.%ld", state_dir, g_rank);
  FILE* file = fopen(path, "re");
  if (file == NULL) Die("open %s: %s", path, strerror(errno));
  while (fgets(line, sizeof line, file) != NULL) {
    line[strcspn(line, "\n")] = '\0';
    if (strncmp(line, "count=", 6) == 0) recorded.count = strtoull(line + 6, NULL, 10);
    if (strncmp(line, "checksum=", 9) == 0) {
      snprintf(recorded.checksum, sizeof recorded.checksum, "%.31s", line + 9);
    }
    if (strncmp(line, "node=", 5) == 0) {
      snprintf(recorded.node, sizeof recorded.node, "%.127s", line + 5);
    }
  }
  fclose(file);
  return recorded;
}

// The one memfd crpid saved: STATE/rank.N.maps/files/NNNN-memfd.
static void FindSavedMemfd(const char* state_dir, char* path) {
  char files[PATH_MAX];
  snprintf(files, sizeof files, "%s/rank.%ld.maps/files", state_dir, g_rank);
  DIR* directory = opendir(files);
  if (directory == NULL) Die("open %s: %s", files, strerror(errno));
  path[0] = '\0';
  for (struct dirent* entry; (entry = readdir(directory)) != NULL;) {
    const size_t length = strlen(entry->d_name);
    if (length > 6 && strcmp(entry->d_name + length - 6, "-memfd") == 0) {
      if (path[0] != '\0') Die("more than one memfd in %s", files);
      if (snprintf(path, PATH_MAX, "%s/%s", files, entry->d_name) >= PATH_MAX) {
        Die("path too long in %s", files);
      }
    }
  }
  closedir(directory);
  if (path[0] == '\0') Die("no memfd saved in %s", files);
}

static struct Header* RefillMemfd(const char* saved) {
  int in = open(saved, O_RDONLY | O_CLOEXEC);
  struct stat st;
  if (in < 0 || fstat(in, &st) != 0) Die("open %s: %s", saved, strerror(errno));
  if (st.st_size != MEMFD_BYTES) Die("%s has %lld bytes, not %d", saved, (long long)st.st_size, MEMFD_BYTES);
  int memfd = memfd_create("rank-state", MFD_CLOEXEC);
  if (memfd < 0 || ftruncate(memfd, MEMFD_BYTES) != 0) Die("memfd: %s", strerror(errno));
  struct Header* state = MapMemfd(memfd);
  size_t got = 0;
  while (got < MEMFD_BYTES) {
    ssize_t n = read(in, (char*)state + got, MEMFD_BYTES - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die("read %s: %s", saved, n == 0 ? "short file" : strerror(errno));
    got += (size_t)n;
  }
  close(in);
  if (memcmp(state->magic, kMagic, sizeof kMagic) != 0 || state->rank != (uint64_t)g_rank) {
    Die("%s is not rank %ld's state", saved, g_rank);
  }
  return state;
}

// "CapInh=… CapPrm=… CapEff=… CapAmb=…" from /proc/PID/status.
static void CapabilitySets(pid_t pid, char* out, size_t size) {
  char path[64], line[256];
  snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
  FILE* status = fopen(path, "re");
  if (status == NULL) Die("open %s: %s", path, strerror(errno));
  out[0] = '\0';
  while (fgets(line, sizeof line, status) != NULL) {
    char name[16], value[32];
    if (sscanf(line, "%15[^:]: %31s", name, value) != 2) continue;
    if (strcmp(name, "CapInh") && strcmp(name, "CapPrm") && strcmp(name, "CapEff") &&
        strcmp(name, "CapAmb")) {
      continue;
    }
    size_t used = strlen(out);
    snprintf(out + used, size - used, "%s%s=%s", used ? " " : "", name, value);
  }
  fclose(status);
}

static int Resume(const char* state_dir) {
  const struct Recorded recorded = ReadRecorded(state_dir);
  char saved[PATH_MAX];
  FindSavedMemfd(state_dir, saved);
  struct Header* state = RefillMemfd(saved);
  const uint64_t checksum = Checksum((const unsigned char*)state, MEMFD_BYTES);

  // The child, at the PID it had, through crpid like the rank itself.
  int wait_pipe[2], hello_pipe[2];
  char self[PATH_MAX], rfd[16], wfd[16], map[PATH_MAX], key[32];
  SelfPath(self);
  MakeChildPipes(wait_pipe, hello_pipe, rfd, wfd);
  snprintf(map, sizeof map, "%s/pids", state_dir);
  snprintf(key, sizeof key, "%ld.child", g_rank);
  char* argv[] = {(char*)Crpid(), "fork-at", "--pid-map", map, "--key", key, "--",
                  self, "--child", rfd, wfd, NULL};
  struct Child child = StartChild(argv, wait_pipe, hello_pipe);

  char rank_caps[256], child_caps[256];
  CapabilitySets(getpid(), rank_caps, sizeof rank_caps);
  CapabilitySets(child.said, child_caps, sizeof child_caps);
  printf("restored rank=%ld node=%s pid=%d child=%d checkpoint_node=%s count=%" PRIu64
         " recorded_count=%" PRIu64 " checksum=%016" PRIx64 " recorded_checksum=%s\n",
         g_rank, NodeName(), (int)getpid(), (int)child.said, recorded.node, state->count,
         recorded.count, checksum, recorded.checksum);
  printf("caps rank=%ld process=rank %s\n", g_rank, rank_caps);
  printf("caps rank=%ld process=child %s\n", g_rank, child_caps);
  fflush(stdout);
  for (int i = 0; i < RESUME_STEPS; ++i) {
    Step(state);
    Nap(20);
  }
  StopChild(&child);
  printf("resumed rank=%ld count=%" PRIu64 "\n", g_rank, state->count);
  return 0;
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 4 && strcmp(argv[1], "--child") == 0) return RunChild(argv[2], argv[3]);
  g_rank = RankNumber();
  if (argc == 3 && strcmp(argv[1], "--resume") == 0) return Resume(argv[2]);
  if (argc == 2 && argv[1][0] != '-') return RunFromStart(argv[1]);
  fprintf(stderr, "usage: rank STATE | rank --resume STATE\n");
  return 2;
}
