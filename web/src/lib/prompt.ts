// The ready-to-paste prompt for a coding assistant that a finding's "copy prompt" button gives.
import type { Finding } from "../api/client";

export function findingPrompt(
  f: Finding,
  run: { name: string; id: string; modelType?: string },
): string {
  const lines = [
    `I am training a PyTorch model${run.modelType ? ` (${run.modelType})` : ""}; the Atlas observatory diagnosed my run "${run.name}" (${run.id}).`,
    "",
    `Finding: ${f.title} [${f.check}, ${f.severity}${f.layer ? `, layer \`${f.layer}\`` : ""}]`,
  ];
  if (f.epochs && f.epochs.length > 0) lines.push(`Seen in epochs: ${f.epochs.join(", ")}`);
  if (f.evidence && Object.keys(f.evidence).length > 0) {
    lines.push(`Evidence: ${JSON.stringify(f.evidence)}`);
  }
  if (f.why) lines.push(`Why it matters: ${f.why}`);
  if (f.energy_at_stake?.kwh !== undefined) {
    lines.push(
      `Energy at stake so far: ${f.energy_at_stake.kwh} kWh` +
        (f.energy_at_stake.kg_co2 !== undefined ? `, ${f.energy_at_stake.kg_co2} kg CO2` : ""),
    );
  }
  if (f.fix) lines.push(`Suggested fix: ${f.fix}`);
  lines.push(
    "",
    "Please change my model or training code to apply this fix. Show the exact edit, explain how it " +
      "addresses the evidence above, and mention anything I should re-check (accuracy, shapes, learning rate).",
  );
  return lines.join("\n");
}

/** Copies text; falls back to a hidden textarea where the Clipboard API is not allowed. */
export async function copyText(text: string): Promise<boolean> {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    area.setAttribute("readonly", "");
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    const ok = document.execCommand("copy");
    document.body.removeChild(area);
    return ok;
  }
}
