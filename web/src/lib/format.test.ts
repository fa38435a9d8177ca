import { describe, expect, it } from "vitest";
import { DASH, bytes, co2, duration, eur, joulesToKwh, kwh, percent, sig } from "./format";

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
