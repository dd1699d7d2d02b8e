// The only script of callrec web: clickable result rows, remembering the last search for
// the "back" link, and the player, which asks for a logged listen grant before playing.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  if (document.getElementById("search-form")) {
    sessionStorage.setItem("callrec.lastSearch", location.search);
  }
  const back = document.getElementById("back-link");
  if (back) {
    back.href = "/calls" + (sessionStorage.getItem("callrec.lastSearch") || "");
  }
  for (const row of document.querySelectorAll("tr.row-link")) {
    row.addEventListener("click", (event) => {
      if (!event.target.closest("a")) { location.href = row.dataset.href; }
    });
  }

  const form = document.getElementById("listen-form");
  if (!form) { return; }
  const purpose = document.getElementById("purpose");
  const note = document.getElementById("note");
  const play = document.getElementById("play-button");
  const download = document.getElementById("download-button");
  const player = document.getElementById("player");
  const status = document.getElementById("listen-status");
  const noteRequired = form.dataset.noteRequired === "true";

  const ready = () => {
    const ok = purpose.value !== "" && (!noteRequired || note.value.trim() !== "");
    play.disabled = !ok;
    download.disabled = !ok;
  };
  purpose.addEventListener("change", ready);
  note.addEventListener("input", ready);
  ready();

  const say = (text, isError) => {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  };

  const ask = async (wantDownload) => {
    const response = await fetch(`/api/calls/${form.dataset.callId}/listen`, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: JSON.stringify({ purpose: purpose.value, note: note.value.trim() || null,
                             download: wantDownload }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) { throw new Error(body.error || `the server answered ${response.status}`); }
    return body;
  };

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    play.disabled = true;
    try {
      const grant = await ask(false);
      player.hidden = false;
      player.src = grant.url;
      await player.play();
      say(`Playing. Logged as access #${grant.access_seq} (purpose: ${purpose.value}).`);
    } catch (error) {
      say(`Could not play: ${error.message}`, true);
    } finally {
      ready();
    }
  });

  download.addEventListener("click", async () => {
    try {
      const grant = await ask(true);
      say(`Downloading. Logged as access #${grant.access_seq} (purpose: ${purpose.value}).`);
      location.href = grant.url;
    } catch (error) {
      say(`Could not download: ${error.message}`, true);
    }
  });
});

// The paused spans on the timeline bar, and the live call's pause and resume buttons.
document.addEventListener("DOMContentLoaded", () => {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const timeline = document.getElementById("pause-timeline");
  if (timeline) {
    const total = Number(timeline.dataset.totalMs) || 0;
    for (const span of timeline.querySelectorAll(".timeline-pause")) {
      const start = Number(span.dataset.startMs);
      const end = span.dataset.endMs === "" ? total : Number(span.dataset.endMs);
      const length = Math.max(total, end, 1);
      span.style.left = `${(100 * start) / length}%`;
      span.style.width = `${Math.max(0.5, (100 * (end - start)) / length)}%`;
    }
  }

  const card = document.getElementById("live-call");
  if (!card) { return; }
  const pause = document.getElementById("pause-button");
  const resume = document.getElementById("resume-button");
  const state = document.getElementById("recording-state");
  const status = document.getElementById("pause-status");
  const show = (paused) => {
    card.dataset.paused = String(paused);
    state.textContent = paused ? "Recording paused" : "Recording";
    if (pause) { pause.hidden = paused; }
    if (resume) { resume.hidden = !paused; }
  };
  const act = async (what) => {
    const response = await fetch(`/api/calls/${card.dataset.callId}/${what}`, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: "{}",
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      status.textContent = `Could not ${what}: ${body.error || response.status}`;
      status.classList.add("error");
      return;
    }
    status.classList.remove("error");
    status.textContent = body.paused ? "Paused: nothing reaches the recording." : "Recording again.";
    show(Boolean(body.paused));
  };
  if (pause) { pause.addEventListener("click", () => act("pause")); }
  if (resume) { resume.addEventListener("click", () => act("resume")); }
});
