// A throwaway PostgreSQL server for tests: a fresh cluster (initdb) in a temporary directory,
// listening on a free 127.0.0.1 port and on a unix socket inside that directory, with fsync off.
// The destructor stops it the way `pg_ctl stop -m immediate` does and removes the directory.
//
// PostgreSQL refuses to run as root: under root (as in CI) initdb and the server run as the
// `postgres` system user the Debian package creates, and the directory belongs to that user.
// Missing PostgreSQL binaries are an error (the caller should fail, not skip): PostgreSQL is a
// required test dependency. HEARTH_POSTGRES_BIN names the directory holding initdb and postgres;
// otherwise the newest /usr/lib/postgresql/<version>/bin is used.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <variant>

#include "common/expected.hpp"

namespace hearth::test_support {

class PostgresServer {
 public:
  static Expected<std::unique_ptr<PostgresServer>, std::string> start();
  ~PostgresServer();
  PostgresServer(const PostgresServer&) = delete;
  PostgresServer& operator=(const PostgresServer&) = delete;

  // A libpq URI for `database` as the cluster's superuser (trust authentication).
  std::string url(std::string_view database) const;
  // The same, with `schema` alone on the search path: where unqualified names are created and
  // found, a database of its own as far as the ledger stores can tell.
  std::string url(std::string_view database, std::string_view schema) const;
  // Creates an empty database (name: lower-case letters, digits, '_') and returns its URL.
  Expected<std::string, std::string> create_database(std::string_view name);
  // Creates an empty schema in `database` and returns the URL that uses it: much cheaper than a
  // database (milliseconds, no checkpoint) for a fresh start per test.
  Expected<std::string, std::string> create_schema(std::string_view database,
                                                   std::string_view schema);

  int port() const { return port_; }
  const std::string& directory() const { return directory_; }

  // Runs `sql` (one or more statements, no parameters) on a new connection to `url`.
  static Expected<std::monostate, std::string> execute(const std::string& url,
                                                       std::string_view sql);

 private:
  PostgresServer() = default;
  void stop();

  std::string directory_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace hearth::test_support
