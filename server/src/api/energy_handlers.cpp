#include "api/energy_handlers.hpp"

#include "api/responses.hpp"
#include "atlas/carbon.hpp"
#include "energy/attribution.hpp"
#include "energy/report_json.hpp"

namespace atlas::api {
namespace {

// The steps' energy_j values, read only when the protocol has that step field (it arrives with
// the energy samplers); a run without it gives none.
Status ReadStepEnergy(store::Store& store, const std::string& run_id,
                      std::vector<energy::StepEnergy>& out) {
  const auto field = model::FindStepField("energy_j");
  if (!field) return Status::Ok();
  return store.ScanSteps(run_id, [&out, f = *field](const model::StepRecord& step) {
    if (const auto& joules = step.at(f)) out.push_back({step.step, step.epoch, *joules});
  });
}

}  // namespace

http::Response GetRunEnergy(const http::Request& req, store::Store& store) {
  const std::string& run_id = req.params.at("id");
  auto run = store.GetRun(run_id);
  if (!run.ok()) return StoreError(run.status());

  energy::AttributionInput input;
  input.architecture = std::move(run->architecture);
  auto epochs = store.ListEpochs(run_id);
  if (!epochs.ok()) return StoreError(epochs.status());
  input.epochs = std::move(*epochs);
  auto profiles = store.ListProfiles(run_id);
  if (!profiles.ok()) return StoreError(profiles.status());
  input.profiles = std::move(*profiles);
  if (Status s = ReadStepEnergy(store, run_id, input.steps); !s.ok()) return StoreError(s);

  const carbon::Settings settings = carbon::ResolveSettings(run->config.dump());
  const energy::RunEnergy result = energy::Attribute(input, settings);
  return JsonResponse(200, energy::RunEnergyJson(result));
}

}  // namespace atlas::api
