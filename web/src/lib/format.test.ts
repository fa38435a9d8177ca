import { describe, expect, it } from "vitest";
import {
  CO2_UNITS,
  DASH,
  ENERGY_UNITS,
  bytes,
  co2,
  duration,
  eur,
  joulesToKwh,
  kwh,
  percent,
  sig,
  unitTicks,
} from "./format";

describe("format", () => {
  it("shows a dash for what the server does not provide", () => {
    for (const f of [sig, duration, kwh, co2, eur, percent, bytes]) {
      expect(f(null)).toBe(DASH);
      expect(f(undefined)).toBe(DASH);
      expect(f(NaN)).toBe(DASH);
    }
  });

  it("formats durations", () => {
    expect(duration(12.34)).toBe("12.3 s");
    expect(duration(185)).toBe("3m 05s");
    expect(duration(3725)).toBe("1h 02m");
  });

  it("switches energy and carbon units for small values", () => {
    expect(kwh(2.5)).toBe("2.5 kWh");
    expect(kwh(0.0123)).toBe("12.3 Wh");
    expect(co2(0.004)).toBe("4 g CO₂");
    expect(co2(12)).toBe("12 kg CO₂");
  });

  it("keeps significant digits for tiny costs", () => {
    expect(eur(1.234)).toBe("€1.23");
    expect(eur(0.00042)).toBe("€0.00042");
    expect(eur(0)).toBe("€0.00");
  });

  it("formats percentages, bytes and infinities", () => {
    expect(percent(0.345)).toBe("34.5%");
    expect(bytes(1536)).toBe("1.5 KiB");
    expect(sig(Infinity)).toBe("∞");
    expect(joulesToKwh(3.6e6)).toBe(1);
  });
});

describe("unitTicks", () => {
  it("writes tiny energies in Wh or mWh instead of 0", () => {
    expect(unitTicks([0, 0.0001, 0.0002, 0.0003], ENERGY_UNITS)).toEqual([
      "0.0 Wh",
      "0.1 Wh",
      "0.2 Wh",
      "0.3 Wh",
    ]);
    expect(unitTicks([0, 2e-7, 4e-7], ENERGY_UNITS)).toEqual(["0.0 mWh", "0.2 mWh", "0.4 mWh"]);
  });

  it("keeps kWh for large values and whole numbers without decimals", () => {
    expect(unitTicks([0, 5, 10], ENERGY_UNITS)).toEqual(["0 kWh", "5 kWh", "10 kWh"]);
    expect(unitTicks([0, 0.5, 1, 1.5], ENERGY_UNITS)).toEqual([
      "0.0 kWh",
      "0.5 kWh",
      "1.0 kWh",
      "1.5 kWh",
    ]);
  });

  it("gives every tick its own label, whatever the spacing", () => {
    const ticks = [0.00025, 0.0005, 0.00075, 0.001];
    const labels = unitTicks(ticks, ENERGY_UNITS);
    expect(labels).toEqual(["0.25 Wh", "0.50 Wh", "0.75 Wh", "1.00 Wh"]);
    expect(new Set(labels).size).toBe(ticks.length);
  });

  it("converts carbon to g and mg, and survives float noise and empty axes", () => {
    expect(unitTicks([0.0001, 0.0002], CO2_UNITS)).toEqual(["0.1 g", "0.2 g"]);
    expect(unitTicks([0.1 + 0.2, 0.6], CO2_UNITS)).toEqual(["0.3 kg", "0.6 kg"]);
    expect(unitTicks([0, 0], ENERGY_UNITS)).toEqual(["0 kWh", "0 kWh"]);
    expect(unitTicks([], ENERGY_UNITS)).toEqual([]);
  });
});
