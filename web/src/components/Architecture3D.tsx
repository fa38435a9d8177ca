// The 3D architecture view: every module of the registered model as a block, sized by
// parameters or compute, coloured by its sustainability score; click (or pick from the list)
// for details. Loaded lazily: three.js is only fetched when this panel renders.
import { useEffect, useMemo, useRef, useState } from "react";
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { layoutBlocks, scoreColor, type ArchNode } from "../lib/arch";

/** Beyond this many modules the view draws the first ones and says so. */
const MAX_BLOCKS = 4000;

interface Props {
  root: ArchNode | null;
  scores: Record<string, number>;
  selected: string | null;
  onSelect: (name: string | null) => void;
}

export default function Architecture3D({ root, scores, selected, onSelect }: Props) {
  const host = useRef<HTMLDivElement>(null);
  const [sizeBy, setSizeBy] = useState<"params" | "flops">("params");
  const blocks = useMemo(() => layoutBlocks(root, sizeBy), [root, sizeBy]);
  const shown = useMemo(() => blocks.slice(0, MAX_BLOCKS), [blocks]);
  const meshes = useRef(new Map<string, THREE.Mesh>());
  const redraw = useRef<() => void>(() => {});
  const onSelectRef = useRef(onSelect);
  onSelectRef.current = onSelect;

  useEffect(() => {
    const el = host.current;
    if (!el) return;
    const width = el.clientWidth || 800;
    const height = 380;
    const renderer = new THREE.WebGLRenderer({
      antialias: true,
      alpha: true,
      preserveDrawingBuffer: true,
    });
    renderer.setPixelRatio(Math.min(2, window.devicePixelRatio));
    renderer.setSize(width, height);
    el.appendChild(renderer.domElement);
    renderer.domElement.setAttribute("data-testid", "arch-canvas");
    renderer.domElement.setAttribute("aria-hidden", "true");

    const scene = new THREE.Scene();
    const span = Math.max(4, ...shown.map((b) => Math.abs(b.x) + b.width));
    const camera = new THREE.PerspectiveCamera(45, width / height, 0.1, span * 20);
    camera.position.set(span * 0.35, span * 0.55, span * 1.1);
    scene.add(new THREE.AmbientLight(0xffffff, 0.65));
    const sun = new THREE.DirectionalLight(0xffffff, 0.9);
    sun.position.set(span, span * 2, span);
    scene.add(sun);

    meshes.current.clear();
    const group = new THREE.Group();
    for (const b of shown) {
      const geo = new THREE.BoxGeometry(b.width, b.height, b.depthZ);
      // Colours come from the scores effect below, so a live score update repaints the blocks
      // without rebuilding the scene (which would reset the user's camera).
      const mat = new THREE.MeshStandardMaterial({
        transparent: b.node.children.length > 0,
        opacity: b.node.children.length > 0 ? 0.45 : 1,
      });
      const mesh = new THREE.Mesh(geo, mat);
      mesh.position.set(b.x, b.y + b.height / 2, 0);
      mesh.userData.name = b.node.name;
      group.add(mesh);
      meshes.current.set(b.node.name, mesh);
    }
    scene.add(group);

    const controls = new OrbitControls(camera, renderer.domElement);
    controls.target.set(0, 0.5, 0);
    controls.update();
    const render = () => renderer.render(scene, camera);
    redraw.current = render;
    controls.addEventListener("change", render);

    // A click that did not drag picks the block under the pointer.
    const raycaster = new THREE.Raycaster();
    let down: { x: number; y: number } | null = null;
    const onDown = (e: PointerEvent) => (down = { x: e.clientX, y: e.clientY });
    const onUp = (e: PointerEvent) => {
      if (!down || Math.hypot(e.clientX - down.x, e.clientY - down.y) > 4) return;
      const rect = renderer.domElement.getBoundingClientRect();
      const p = new THREE.Vector2(
        ((e.clientX - rect.left) / rect.width) * 2 - 1,
        -((e.clientY - rect.top) / rect.height) * 2 + 1,
      );
      raycaster.setFromCamera(p, camera);
      const hit = raycaster.intersectObjects(group.children, false)[0];
      onSelectRef.current(hit ? (hit.object.userData.name as string) : null);
    };
    renderer.domElement.addEventListener("pointerdown", onDown);
    renderer.domElement.addEventListener("pointerup", onUp);

    const obs = new ResizeObserver(() => {
      const w = el.clientWidth || width;
      renderer.setSize(w, height);
      camera.aspect = w / height;
      camera.updateProjectionMatrix();
      render();
    });
    obs.observe(el);
    render();
    return () => {
      obs.disconnect();
      controls.dispose();
      renderer.domElement.removeEventListener("pointerdown", onDown);
      renderer.domElement.removeEventListener("pointerup", onUp);
      group.children.forEach((m) => {
        const mesh = m as THREE.Mesh;
        mesh.geometry.dispose();
        (mesh.material as THREE.Material).dispose();
      });
      renderer.dispose();
      el.removeChild(renderer.domElement);
    };
  }, [shown]);

  // Colour by score and highlight the selection without rebuilding the scene.
  useEffect(() => {
    for (const [name, mesh] of meshes.current) {
      const mat = mesh.material as THREE.MeshStandardMaterial;
      mat.color = new THREE.Color(scoreColor(scores[name]));
      mat.emissive = new THREE.Color(name === selected ? 0x3355ff : 0x000000);
      mat.emissiveIntensity = name === selected ? 0.6 : 0;
    }
    redraw.current();
  }, [selected, blocks, scores]);

  return (
    <div className="arch3d">
      <div className="toolbar">
        <fieldset className="segmented">
          <legend>Block size by</legend>
          {(["params", "flops"] as const).map((s) => (
            <label key={s}>
              <input
                type="radio"
                name="sizeby"
                checked={sizeBy === s}
                onChange={() => setSizeBy(s)}
              />
              {s === "params" ? "parameters" : "compute (FLOPs)"}
            </label>
          ))}
        </fieldset>
        <span className="legend-scale" aria-label="Colour scale: score 0 red to 100 green">
          score <span className="scale-bar" /> 0 → 100 · grey: no score yet
        </span>
      </div>
      <div ref={host} className="arch-host" />
      {blocks.length > MAX_BLOCKS && (
        <p className="sub">
          Showing the first {MAX_BLOCKS} of {blocks.length} modules; the layers table lists them
          all.
        </p>
      )}
      <p className="sub">Drag to orbit, scroll to zoom, click a block for its details.</p>
    </div>
  );
}
