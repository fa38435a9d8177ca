// The SQLite side of the agent's state (store/agent_records.hpp): schema migration 5 and the
// statements over it, as functions over one Connection.
//
// Writes run on the store's writer connection (the caller holds the writer mutex) in one
// IMMEDIATE transaction each; reads run on a pooled reader inside the store's read transaction.
// Not thread-safe by themselves: the caller owns the connection for the call.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "atlas/status.hpp"
#include "store/agent_records.hpp"
#include "store/sqlite/db.hpp"

namespace atlas::store::sqlite {

// The tables `beliefs` (one row per run, indexed by fingerprint for the project memory) and
// `agent_proposals` (keyed (run, id)): schema migration 5. IF NOT EXISTS, because databases
// written before the migration was numbered created the tables on their first write; for the
// same reason writes still create them when missing and reads treat missing tables as empty.
Status CreateAgentTables(Connection& conn);

Status WriteBeliefs(Connection& conn, const BeliefRecord& record);
Result<std::optional<BeliefRecord>> ReadBeliefs(Connection& conn, const std::string& run_id);
// The newest `limit` belief states with this fingerprint, newest first.
Result<std::vector<BeliefRecord>> ReadBeliefsByFingerprint(Connection& conn,
                                                           const std::string& fingerprint,
                                                           std::int64_t limit);

Result<ProposalRecord> InsertProposal(Connection& conn, const ProposalRecord& proposal);
Result<std::vector<ProposalRecord>> ReadProposals(Connection& conn, const std::string& run_id);
// Settles a pending proposal; kNotFound for an unknown one, kConflict when already settled.
Status ResolveProposal(Connection& conn, const std::string& run_id, std::int64_t id,
                       const std::string& status, double now);

}  // namespace atlas::store::sqlite
