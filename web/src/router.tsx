// A minimal history router: the dashboard has three pages, so a library would be more code than
// it saves. atlasd answers index.html for these paths (server/src/web), so links can be shared.
import { useEffect, useState, type MouseEvent, type ReactNode } from "react";

export type Route =
  | { page: "runs" }
  | { page: "run"; id: string }
  | { page: "compare"; ids: string[] }
  | { page: "missing"; path: string };

export function parseRoute(pathname: string, search: string): Route {
  if (pathname === "/" || pathname === "/runs" || pathname === "/index.html")
    return { page: "runs" };
  const run = /^\/runs\/([^/]+)\/?$/.exec(pathname);
  if (run) return { page: "run", id: decodeURIComponent(run[1]) };
  if (pathname === "/compare") {
    const ids = (new URLSearchParams(search).get("runs") ?? "").split(",").filter(Boolean);
    return { page: "compare", ids };
  }
  return { page: "missing", path: pathname };
}

export function navigate(to: string): void {
  window.history.pushState(null, "", to);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const read = () => parseRoute(window.location.pathname, window.location.search);
  const [route, setRoute] = useState<Route>(read);
  useEffect(() => {
    const onPop = () => setRoute(read());
    window.addEventListener("popstate", onPop);
    return () => window.removeEventListener("popstate", onPop);
  }, []);
  return route;
}

export function runPath(id: string): string {
  return `/runs/${encodeURIComponent(id)}`;
}

/** An anchor that navigates without a reload (a modified click still opens a new tab). */
export function Link(props: {
  to: string;
  children: ReactNode;
  className?: string;
  title?: string;
}) {
  const onClick = (e: MouseEvent<HTMLAnchorElement>) => {
    if (e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(props.to);
  };
  return (
    <a href={props.to} onClick={onClick} className={props.className} title={props.title}>
      {props.children}
    </a>
  );
}
