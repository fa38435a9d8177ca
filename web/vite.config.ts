/// <reference types="vitest" />
import { defineConfig } from "vite";
import react from "@vitejs/plugin-react";

// The dashboard builds to web/dist, which atlasd serves at / (server/src/web). In development,
// `npm run dev` proxies the API to an atlasd on $ATLAS_URL (default http://127.0.0.1:7878).
export default defineConfig({
  plugins: [react()],
  build: {
    outDir: "dist",
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 1000,
    rollupOptions: {
      output: {
        // three.js is only needed by the 3D view; a chunk of its own keeps it out of the first paint.
        manualChunks: { three: ["three"], uplot: ["uplot"] },
      },
    },
  },
  server: {
    proxy: { "/api": process.env.ATLAS_URL ?? "http://127.0.0.1:7878" },
  },
  test: {
    include: ["src/**/*.test.ts"],
    environment: "node",
  },
});
