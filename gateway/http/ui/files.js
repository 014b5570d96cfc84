// Files on the page: attachments going out, file artifacts coming back.
//
// Out: files picked (the "Attach" button) or dropped on the message card become A2A v1.0
// file parts, `{raw: base64, mediaType, filename}`, sent after the text. The card's input
// modes set what the picker offers; the gateway still decides (-32005 for a media type the
// agent does not take, HTTP 413 for a body over its limit), and the page shows its error.
// In: a file part of an artifact is shown as an <img> when its media type is an image, and
// always offered for download. A new version of an artifact (`append: false`) replaces the
// picture in the same <img> element, so it sharpens in place; object URLs of replaced
// versions are revoked.
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const attached = []; // {name, type, size, raw}
  const BY_EXTENSION = {
    pdf: "application/pdf", txt: "text/plain", md: "text/markdown", csv: "text/csv",
    png: "image/png", jpg: "image/jpeg", jpeg: "image/jpeg", gif: "image/gif",
    webp: "image/webp", json: "application/json",
  };

  function mediaTypeOf(file) {
    if (file.type) return file.type;
    const extension = (file.name.split(".").pop() || "").toLowerCase();
    return BY_EXTENSION[extension] || "application/octet-stream";
  }

  function sizeText(bytes) {
    if (bytes < 1024) return `${bytes} B`;
    if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
    return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
  }

  function readBase64(file) {
    return new Promise((resolve, reject) => {
      const reader = new FileReader();
      reader.onload = () => resolve(String(reader.result).split(",", 2)[1] || "");
      reader.onerror = () => reject(reader.error || new Error(`cannot read ${file.name}`));
      reader.readAsDataURL(file);
    });
  }

  function showAttached() {
    const items = attached.map((file, index) => {
      const chip = document.createElement("li");
      chip.className = "chip";
      chip.dataset.name = file.name;
      const label = document.createElement("span");
      label.textContent = `${file.name} · ${sizeText(file.size)}`;
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "ghost small";
      remove.title = `Remove ${file.name}`;
      remove.setAttribute("aria-label", `Remove ${file.name}`);
      remove.textContent = "×";
      remove.addEventListener("click", () => {
        attached.splice(index, 1);
        showAttached();
      });
      chip.append(label, remove);
      return chip;
    });
    $("attachments").replaceChildren(...items);
    $("attachments").hidden = !items.length;
  }

  async function add(files) {
    $("send-error").textContent = "";
    for (const file of files) {
      try {
        attached.push({ name: file.name, type: mediaTypeOf(file), size: file.size, raw: await readBase64(file) });
      } catch (error) {
        $("send-error").textContent = error.message;
      }
    }
    showAttached();
  }

  // The parts to send after the text, and forgetting them once sent.
  function parts() {
    return attached.map((file) => ({ raw: file.raw, mediaType: file.type, filename: file.name }));
  }

  function clear() {
    attached.length = 0;
    $("file").value = "";
    showAttached();
  }

  function accept(modes) {
    const wanted = (modes || []).filter((mode) => mode !== "text/plain" || modes.length === 1);
    $("file").accept = wanted.join(",");
  }

  // --- file artifacts ---------------------------------------------------------------

  function bytesOf(base64) {
    const binary = atob(base64);
    const bytes = new Uint8Array(binary.length);
    for (let i = 0; i < binary.length; i += 1) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function safeName(name, fallback) {
    const base = String(name || "").split(/[/\\]/).pop().replace(/[\u0000-\u001f\u007f]/g, "").replace(/^\.+/, "");
    return base || fallback;
  }

  // Show the file parts of one artifact update in `entry` (its section): replace what was
  // shown unless `append`. Returns how many file parts there were.
  function render(entry, artifact, append, metadata) {
    const files = (artifact.parts || []).filter((p) => typeof p.raw === "string" || typeof p.url === "string");
    if (!entry.files) {
      entry.files = document.createElement("div");
      entry.files.className = "files";
      entry.section.append(entry.files);
      entry.shown = [];
    }
    if (!append) {
      entry.shown.forEach((shown, index) => {
        if (index >= files.length) {
          if (shown.url) URL.revokeObjectURL(shown.url);
          shown.box.remove();
        }
      });
      entry.shown.length = Math.min(entry.shown.length, files.length);
    }
    const start = append ? entry.shown.length : 0;
    files.forEach((part, offset) => show(entry, start + offset, part, artifact));
    if (metadata && metadata.version && metadata.versions) {
      entry.section.dataset.version = String(metadata.version);
      entry.title.textContent = `${artifact.name || artifact.artifactId} · version ${metadata.version} of ${metadata.versions}`;
    }
    entry.pre.hidden = !entry.pre.textContent && files.length > 0;
    return files.length;
  }

  function show(entry, index, part, artifact) {
    let shown = entry.shown[index];
    if (!shown) {
      const box = document.createElement("figure");
      box.className = "file";
      const link = document.createElement("a");
      link.className = "download";
      box.append(link);
      shown = { box, link, img: null, url: null };
      entry.shown[index] = shown;
      entry.files.append(box);
    }
    const type = part.mediaType || "application/octet-stream";
    const name = safeName(part.filename, `${safeName(artifact.name, "artifact")}-${index + 1}`);
    let href = part.url;
    let size = "";
    if (typeof part.raw === "string") {
      const bytes = bytesOf(part.raw);
      if (shown.url) URL.revokeObjectURL(shown.url);
      shown.url = URL.createObjectURL(new Blob([bytes], { type }));
      href = shown.url;
      size = ` (${sizeText(bytes.length)})`;
    }
    if (type.startsWith("image/")) {
      if (!shown.img) {
        shown.img = document.createElement("img");
        shown.box.prepend(shown.img);
      }
      shown.img.alt = name;
      shown.img.src = href;
    } else if (shown.img) {
      shown.img.remove();
      shown.img = null;
    }
    shown.link.href = href;
    shown.link.download = name;
    shown.link.textContent = `Download ${name}${size}`;
    if (part.url) shown.link.rel = "noopener noreferrer";
  }

  // --- wiring -----------------------------------------------------------------------

  $("attach").addEventListener("click", () => $("file").click());
  $("file").addEventListener("change", () => add([...$("file").files]));
  const zone = $("compose");
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.dataset.dragging = "true";
  });
  zone.addEventListener("dragleave", (event) => {
    if (!zone.contains(event.relatedTarget)) zone.dataset.dragging = "false";
  });
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.dataset.dragging = "false";
    add([...((event.dataTransfer && event.dataTransfer.files) || [])]);
  });

  window.a2aFiles = { parts, clear, accept, render, count: () => attached.length };
})();
