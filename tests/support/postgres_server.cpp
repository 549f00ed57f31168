#include "support/postgres_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

namespace hearth::test_support {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// The cluster's superuser, whatever the operating-system user running it.
constexpr std::string_view kSuperuser = "hearth";
constexpr auto kStartTimeout = 30s;
constexpr auto kCommandTimeout = 60s;
constexpr auto kStopTimeout = 10s;

// Who initdb and the server run as: the current user, or (under root) the `postgres` user.
struct Identity {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

Expected<Identity, std::string> server_identity() {
  if (geteuid() != 0) {
    return Identity{};
  }
  const passwd* entry = getpwnam("postgres");
  if (entry == nullptr) {
    return unexpected(std::string(
        "running as root, and PostgreSQL refuses to: the tests run the server as the `postgres` "
        "system user, but there is none (install the `postgresql` package, which creates it)"));
  }
  return Identity{true, entry->pw_uid, entry->pw_gid};
}

// The directory holding initdb and postgres: $HEARTH_POSTGRES_BIN, or the newest
// /usr/lib/postgresql/<version>/bin.
Expected<fs::path, std::string> binary_directory() {
  const auto usable = [](const fs::path& directory) {
    return access((directory / "initdb").c_str(), X_OK) == 0 &&
           access((directory / "postgres").c_str(), X_OK) == 0;
  };
  if (const char* configured = std::getenv("HEARTH_POSTGRES_BIN");
      configured != nullptr && *configured != '\0') {
    if (!usable(configured)) {
      return unexpected("HEARTH_POSTGRES_BIN=" + std::string(configured) +
                        " holds no executable initdb and postgres");
    }
    return fs::path(configured);
  }
  const fs::path root = "/usr/lib/postgresql";
  std::optional<std::pair<int, fs::path>> newest;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(root, error)) {
    const auto name = entry.path().filename().string();
    if (name.empty() ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      continue;
    }
    const int version = std::atoi(name.c_str());
    if (usable(entry.path() / "bin") && (!newest || version > newest->first)) {
      newest.emplace(version, entry.path() / "bin");
    }
  }
  if (!newest) {
    return unexpected(std::string(
        "PostgreSQL server binaries not found (no /usr/lib/postgresql/<version>/bin with initdb "
        "and postgres): PostgreSQL is required for these tests; install the `postgresql` "
        "package or set HEARTH_POSTGRES_BIN"));
  }
  return newest->second;
}

std::string log_tail(const fs::path& path) {
  std::ifstream file(path, std::ios::binary);
  std::stringstream content;
  content << file.rdbuf();
  auto text = content.str();
  constexpr std::size_t kTail = 3000;
  if (text.size() > kTail) {
    text = "..." + text.substr(text.size() - kTail);
  }
  return text;
}

// Starts `arguments` with stdout and stderr appended to `log_path`, as `identity`, in
// `directory`. With `die_with_parent` the child gets SIGQUIT (PostgreSQL's immediate shutdown)
// when the test process dies, so that a crashed test leaves no server behind.
Expected<pid_t, std::string> spawn(const std::vector<std::string>& arguments,
                                   const fs::path& log_path, const fs::path& directory,
                                   const Identity& identity, bool die_with_parent) {
  // Everything the child needs is prepared before fork: after it, only async-signal-safe calls.
  std::vector<char*> argv;
  for (const auto& argument : arguments) {
    argv.push_back(const_cast<char*>(argument.c_str()));
  }
  argv.push_back(nullptr);
  const std::string log = log_path.string();
  const std::string working_directory = directory.string();
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) {
    return unexpected("fork: " + std::string(std::strerror(errno)));
  }
  if (pid == 0) {
    const int output = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    const int input = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (output < 0 || input < 0 || dup2(input, 0) < 0 || dup2(output, 1) < 0 ||
        dup2(output, 2) < 0) {
      _exit(125);
    }
    if (identity.switch_user &&
        (setgroups(0, nullptr) != 0 || setgid(identity.gid) != 0 || setuid(identity.uid) != 0)) {
      static constexpr char kMessage[] = "cannot switch to the postgres user\n";
      (void)!write(2, kMessage, sizeof kMessage - 1);
      _exit(126);
    }
    // After the user switch, which clears the parent-death signal.
    if (die_with_parent && (prctl(PR_SET_PDEATHSIG, SIGQUIT) != 0 || getppid() != parent)) {
      _exit(125);
    }
    if (chdir(working_directory.c_str()) != 0) {
      _exit(125);
    }
    execv(argv[0], argv.data());
    static constexpr char kMessage[] = "exec failed\n";
    (void)!write(2, kMessage, sizeof kMessage - 1);
    _exit(127);
  }
  return pid;
}

// The exit status, or nullopt when the child is still running after `timeout` (it is left
// running then).
std::optional<int> wait_for_exit(pid_t pid, Clock::duration timeout) {
  const auto deadline = Clock::now() + timeout;
  while (true) {
    int status = 0;
    const pid_t waited = waitpid(pid, &status, WNOHANG);
    if (waited == pid || (waited < 0 && errno == ECHILD)) {
      return status;
    }
    if (Clock::now() >= deadline) {
      return std::nullopt;
    }
    std::this_thread::sleep_for(5ms);
  }
}

void kill_and_reap(pid_t pid, int signal) {
  kill(pid, signal);
  if (!wait_for_exit(pid, kStopTimeout)) {
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
  }
}

Expected<int, std::string> free_port() {
  const int socket_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (socket_fd < 0) {
    return unexpected("socket: " + std::string(std::strerror(errno)));
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof address;
  if (bind(socket_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      getsockname(socket_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    const std::string message = std::strerror(errno);
    close(socket_fd);
    return unexpected("finding a free port: " + message);
  }
  close(socket_fd);
  return static_cast<int>(ntohs(address.sin_port));
}

std::string exit_description(int status) {
  if (WIFEXITED(status)) {
    return "exited with status " + std::to_string(WEXITSTATUS(status));
  }
  if (WIFSIGNALED(status)) {
    return "was killed by signal " + std::to_string(WTERMSIG(status));
  }
  return "stopped";
}

}  // namespace

Expected<std::unique_ptr<PostgresServer>, std::string> PostgresServer::start() {
  const auto binaries = binary_directory();
  if (!binaries) {
    return unexpected(binaries.error());
  }
  const auto identity = server_identity();
  if (!identity) {
    return unexpected(identity.error());
  }
  // The postgres user must reach the directory: under root, /tmp rather than a TMPDIR that may
  // lie inside root's home.
  const fs::path base = identity->switch_user ? fs::path("/tmp") : fs::temp_directory_path();
  std::string pattern = (base / "hearth-pg-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    return unexpected("creating a directory under " + base.string() + ": " + std::strerror(errno));
  }
  std::unique_ptr<PostgresServer> server(new PostgresServer());
  server->directory_ = pattern;
  const fs::path directory = pattern;
  if (identity->switch_user && chown(pattern.c_str(), identity->uid, identity->gid) != 0) {
    return unexpected("giving " + pattern + " to the postgres user: " + std::strerror(errno));
  }

  const fs::path data = directory / "data";
  const fs::path initdb_log = directory / "initdb.log";
  const std::vector<std::string> initdb{(*binaries / "initdb").string(),
                                        "--pgdata=" + data.string(),
                                        "--username=" + std::string(kSuperuser),
                                        "--auth=trust",
                                        "--encoding=UTF8",
                                        "--locale=C",
                                        "--no-sync"};
  const auto initdb_pid = spawn(initdb, initdb_log, directory, *identity, true);
  if (!initdb_pid) {
    return unexpected("starting initdb: " + initdb_pid.error());
  }
  const auto initdb_status = wait_for_exit(*initdb_pid, kCommandTimeout);
  if (!initdb_status) {
    kill_and_reap(*initdb_pid, SIGKILL);
    return unexpected("initdb did not finish within a minute:\n" + log_tail(initdb_log));
  }
  if (!WIFEXITED(*initdb_status) || WEXITSTATUS(*initdb_status) != 0) {
    return unexpected("initdb " + exit_description(*initdb_status) + ":\n" + log_tail(initdb_log));
  }

  // Another process may take the free port before the server binds it: try a few.
  const fs::path server_log = directory / "server.log";
  std::string last_error;
  for (int attempt = 0; attempt < 3; ++attempt) {
    const auto port = free_port();
    if (!port) {
      return unexpected(port.error());
    }
    const std::vector<std::string> postgres{(*binaries / "postgres").string(),
                                            "-D",
                                            data.string(),
                                            "-p",
                                            std::to_string(*port),
                                            "-k",
                                            directory.string(),
                                            "-c",
                                            "listen_addresses=127.0.0.1",
                                            "-c",
                                            "fsync=off",
                                            "-c",
                                            "synchronous_commit=off",
                                            "-c",
                                            "full_page_writes=off",
                                            "-c",
                                            "max_connections=100",
                                            "-c",
                                            "log_min_messages=warning"};
    const auto pid = spawn(postgres, server_log, directory, *identity, true);
    if (!pid) {
      return unexpected("starting postgres: " + pid.error());
    }
    server->pid_ = *pid;
    server->port_ = *port;
    const std::string ping_info =
        "host=127.0.0.1 port=" + std::to_string(*port) +
        " dbname=postgres connect_timeout=2 user=" + std::string(kSuperuser);
    const auto deadline = Clock::now() + kStartTimeout;
    while (true) {
      if (PQping(ping_info.c_str()) == PQPING_OK) {
        return server;
      }
      int status = 0;
      if (waitpid(*pid, &status, WNOHANG) == *pid) {
        server->pid_ = -1;
        last_error = "postgres " + exit_description(status) + ":\n" + log_tail(server_log);
        break;
      }
      if (Clock::now() >= deadline) {
        return unexpected("postgres did not accept connections within 30 s:\n" +
                          log_tail(server_log));
      }
      std::this_thread::sleep_for(10ms);
    }
  }
  return unexpected(last_error);
}

PostgresServer::~PostgresServer() { stop(); }

void PostgresServer::stop() {
  if (pid_ > 0) {
    // What `pg_ctl stop -m immediate` sends: the postmaster ends its backends and exits at once.
    kill_and_reap(pid_, SIGQUIT);
    pid_ = -1;
  }
  if (!directory_.empty()) {
    std::error_code ignored;
    fs::remove_all(directory_, ignored);
    directory_.clear();
  }
}

std::string PostgresServer::url(std::string_view database) const {
  return "postgresql://" + std::string(kSuperuser) + "@127.0.0.1:" + std::to_string(port_) + "/" +
         std::string(database);
}

std::string PostgresServer::url(std::string_view database, std::string_view schema) const {
  // "-c search_path=SCHEMA" as a URI parameter: '=' percent-encoded.
  return url(database) + "?options=-csearch_path%3D" + std::string(schema);
}

namespace {

// Names go into SQL text (identifiers cannot be parameters): only plain ones are accepted.
bool plain_name(std::string_view name) {
  return !name.empty() && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

}  // namespace

Expected<std::string, std::string> PostgresServer::create_database(std::string_view name) {
  if (!plain_name(name)) {
    return unexpected("database names here are lower-case letters, digits and '_': " +
                      std::string(name));
  }
  // FILE_COPY copies the template's few files; the default (WAL_LOG) writes them all to the WAL.
  const auto created =
      execute(url("postgres"), "CREATE DATABASE " + std::string(name) + " STRATEGY = FILE_COPY");
  if (!created) {
    return unexpected(created.error());
  }
  return url(name);
}

Expected<std::string, std::string> PostgresServer::create_schema(std::string_view database,
                                                                 std::string_view schema) {
  if (!plain_name(database) || !plain_name(schema)) {
    return unexpected("database and schema names here are lower-case letters, digits and '_': " +
                      std::string(database) + ", " + std::string(schema));
  }
  const auto created = execute(url(database), "CREATE SCHEMA " + std::string(schema));
  if (!created) {
    return unexpected(created.error());
  }
  return url(database, schema);
}

Expected<std::monostate, std::string> PostgresServer::execute(const std::string& url,
                                                              std::string_view sql) {
  PGconn* connection = PQconnectdb(url.c_str());
  if (PQstatus(connection) != CONNECTION_OK) {
    std::string message = "connecting to " + url + ": " + PQerrorMessage(connection);
    PQfinish(connection);
    return unexpected(std::move(message));
  }
  PQsetNoticeProcessor(
      connection, [](void*, const char*) {}, nullptr);
  const std::string statement(sql);
  PGresult* result = PQexec(connection, statement.c_str());
  const auto status = PQresultStatus(result);
  std::optional<std::string> error;
  if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
    error = statement + ": " + PQresultErrorMessage(result);
  }
  PQclear(result);
  PQfinish(connection);
  if (error) {
    return unexpected(std::move(*error));
  }
  return std::monostate{};
}

}  // namespace hearth::test_support
