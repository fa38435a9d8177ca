// The agent's tools over a run (issue 8): list_projects, list_runs, get_run_summary,
// get_epoch_metrics, get_findings, get_layer_health, get_architecture, get_energy_timeline,
// get_waste_report, get_forecast, compare_runs, get_project_history, get_beliefs, and the one
// action tool, request_run_action, which only files a proposal a developer confirms in the UI.
//
// Each tool reads through RunSources (the Store and the services the API uses); none runs SQL
// a model wrote. Their schemas and results are documented in docs/agent.md.
//
// Ownership: the registered functions borrow `sources`' Store and `tracker`, which must outlive
// the registry. Threading: as thread-safe as the Store and the tracker.
#pragma once

#include "agent/belief_tracker.hpp"
#include "agent/sources.hpp"
#include "agent/tools.hpp"

namespace atlas::agent {

// Told of each proposal request_run_action files (for the live hub); may be empty.
using ProposalPublisher = std::function<void(const std::string& run_id, const Json& proposal)>;

void AddRunTools(ToolRegistry& registry, const RunSources& sources, BeliefTracker& tracker,
                 const ProposalPublisher& on_proposal = {});

// The JSON form of a stored proposal.
Json ProposalToJson(const store::ProposalRecord& proposal);

}  // namespace atlas::agent
