import { lazy, Suspense, useEffect, useState } from "react";
import { Link, useRoute } from "./router";
import { RunPage } from "./pages/RunPage";
import { Empty, Loading } from "./components/States";

// The run page is in the main chunk: its first fold is what must be interactive soonest. The
// runs table and the comparison are chunks of their own, fetched when opened.
const RunsPage = lazy(() => import("./pages/RunsPage").then((m) => ({ default: m.RunsPage })));
const ComparePage = lazy(() =>
  import("./pages/ComparePage").then((m) => ({ default: m.ComparePage })),
);

type Theme = "light" | "dark";

function initialTheme(): Theme {
  const saved = localStorage.getItem("atlas.theme");
  if (saved === "light" || saved === "dark") return saved;
  return window.matchMedia?.("(prefers-color-scheme: dark)").matches ? "dark" : "light";
}

export function App() {
  const route = useRoute();
  const [theme, setTheme] = useState<Theme>(initialTheme);
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem("atlas.theme", theme);
  }, [theme]);

  return (
    <>
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          Atlas
        </Link>
        <nav aria-label="Main">
          <Link to="/">Runs</Link>
        </nav>
        <button
          type="button"
          className="theme-toggle"
          onClick={() => setTheme(theme === "dark" ? "light" : "dark")}
          aria-label={`Switch to ${theme === "dark" ? "light" : "dark"} theme`}
        >
          {theme === "dark" ? "☀ Light" : "☾ Dark"}
        </button>
      </header>
      <main id="main" tabIndex={-1}>
        <Suspense fallback={<Loading what="the page" />}>
          {route.page === "runs" && <RunsPage />}
          {route.page === "run" && <RunPage key={route.id} id={route.id} />}
          {route.page === "compare" && <ComparePage ids={route.ids} />}
        </Suspense>
        {route.page === "missing" && (
          <Empty>
            No page at {route.path}. <Link to="/">Back to the runs</Link>
          </Empty>
        )}
      </main>
    </>
  );
}
