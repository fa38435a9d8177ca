// True once the element has come within `margin` of the viewport (and stays true), so that
// panels below the fold load their data or code only when the user gets near them.
import { useEffect, useState, type RefObject } from "react";

export function useNearViewport(ref: RefObject<Element>, margin = "300px"): boolean {
  const [near, setNear] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el || near) return;
    const obs = new IntersectionObserver(
      (entries) => entries.some((e) => e.isIntersecting) && setNear(true),
      {
        rootMargin: margin,
      },
    );
    obs.observe(el);
    return () => obs.disconnect();
  }, [ref, near, margin]);
  return near;
}
