#define CAF_SUITE adapters.pg_store_errors
#include "adapters/postgres/store.hpp"

#include <caf/test/unit_test.hpp>

using gavel::adapters::storage_refused;

// The texts are PostgreSQL's own (src/backend/storage/smgr/md.c, xlog.c) and
// libpq's, as a full or read-only disk produces them.
CAF_TEST(a full or read only disk is a storage refusal) {
  CAF_CHECK(storage_refused("53100", "ERROR:  could not extend file \"base/5/16448\": No "
                                     "space left on device"));
  CAF_CHECK(storage_refused("25006", "ERROR:  cannot execute INSERT in a read-only "
                                     "transaction"));
  // EROFS comes as 42501 (insufficient privilege) and ENOSPC on a WAL write
  // as a PANIC that ends the connection: only the errno text tells.
  CAF_CHECK(storage_refused("42501", "ERROR:  could not create file \"base/5/1\": "
                                     "Read-only file system"));
  CAF_CHECK(storage_refused("", "FATAL:  could not write init file: No space left on "
                                "device"));
}

CAF_TEST(other resource and connection errors are not storage refusals) {
  CAF_CHECK(!storage_refused("53200", "ERROR:  out of memory"));
  CAF_CHECK(!storage_refused("53300", "FATAL:  sorry, too many clients already"));
  CAF_CHECK(!storage_refused("57P01", "FATAL:  terminating connection due to "
                                      "administrator command"));
  CAF_CHECK(!storage_refused("", "connection to server on socket failed: Connection "
                                 "refused"));
}
