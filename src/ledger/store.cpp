#include "ledger/store.hpp"

#include "ledger/postgres_store.hpp"
#include "ledger/sqlite_store.hpp"

namespace hearth::ledger {

Expected<std::unique_ptr<Store>, std::string> open_store(const StoreSettings& settings) {
  switch (settings.kind) {
    case StoreKind::sqlite:
      return SqliteStore::open(settings.sqlite_path, settings.anchor_interval);
    case StoreKind::postgresql:
      return PostgresStore::open(settings.postgresql_url, settings.anchor_interval);
  }
  return unexpected(std::string("unknown ledger store kind"));
}

}  // namespace hearth::ledger
