// The alarm's sound and vibration, and the silent mode of a hiding teacher.
//
// The sound is synthesized with Web Audio (no audio files to load or cache): PDV inrymning a
// fast two-tone whoop no other alert uses, the other kinds a slower pattern, each a few
// seconds long and repeated while the alert is unanswered and the page is visible. Browsers
// only let a page sound after the person touched it, so the audio context is unlocked on the
// first touch or key. In silent mode nothing sounds or vibrates, and the screen is dark; the
// service worker reads the same flag (device record) to show its notifications silently.

const PATTERNS = {
  // [frequency Hz, seconds] steps
  pdv_lockdown: [[880, 0.18], [660, 0.18], [880, 0.18], [660, 0.18], [880, 0.18], [660, 0.18]],
  evacuate: [[520, 0.5], [0, 0.25], [520, 0.5], [0, 0.25]],
  secure: [[740, 0.35], [0, 0.15], [740, 0.35], [0, 0.6]],
  custom: [[600, 0.4], [0, 0.6]],
};
const VIBRATION = {
  pdv_lockdown: [400, 150, 400, 150, 400, 150, 800],
  evacuate: [600, 300, 600],
  secure: [300, 200, 300, 200, 300],
  custom: [500],
};
const REPEAT_S = 4; // one pattern, then a pause, while it rings
const RING_FOR_S = 60; // stop by itself after this: the screen stays, the noise does not

/** Vibrate where the browser lets this page (after a touch: before one, Chrome refuses). */
function vibrate(pattern) {
  if (!navigator.vibrate || navigator.userActivation?.hasBeenActive === false) return;
  navigator.vibrate(pattern);
}

export class Alarm {
  constructor() {
    this.silent = false;
    this.context = null;
    this.lock = null; // the screen wake lock while an alert is shown
    this.timer = null;
    this.until = 0;
    const unlock = () => {
      this.#context()?.resume?.().catch(() => {});
    };
    document.addEventListener("pointerdown", unlock, { capture: true });
    document.addEventListener("keydown", unlock, { capture: true });
  }

  /** Ring for the alert's kind (nothing in silent mode or for a test). */
  ring(alert) {
    this.stop();
    if (this.silent || alert.mode === "test") return;
    const kind = PATTERNS[alert.kind] ? alert.kind : "custom";
    this.until = Date.now() + RING_FOR_S * 1000;
    const once = () => {
      if (Date.now() > this.until || document.visibilityState !== "visible") return this.stop();
      this.#play(PATTERNS[kind]);
      vibrate(VIBRATION[kind]);
    };
    once();
    this.timer = setInterval(once, REPEAT_S * 1000);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = null;
    vibrate(0);
  }

  setSilent(silent) {
    this.silent = silent;
    if (silent) {
      this.stop();
      this.keepAwake(false);
    }
  }

  /** Keep the screen on while an alert is shown (never in silent mode: a lit screen gives a
   * hiding teacher away). Browsers drop the lock when the page is hidden; it is asked again
   * on the next render. */
  async keepAwake(on) {
    const wanted = on && !this.silent && document.visibilityState === "visible";
    if (!wanted) {
      const lock = this.lock;
      this.lock = null;
      await lock?.release().catch(() => {});
      return;
    }
    if (this.lock && !this.lock.released) return;
    try {
      this.lock = (await navigator.wakeLock?.request("screen")) ?? null;
    } catch {
      this.lock = null; // not allowed here (battery saver, no support): the alert shows anyway
    }
  }

  #context() {
    if (this.context) return this.context;
    const AudioContextImpl = window.AudioContext || window.webkitAudioContext;
    if (!AudioContextImpl) return null;
    try {
      this.context = new AudioContextImpl();
    } catch {
      this.context = null;
    }
    return this.context;
  }

  #play(steps) {
    const context = this.context; // made on the first touch: made earlier, it could not start
    if (!context || context.state !== "running") return;
    let at = context.currentTime;
    const gain = context.createGain();
    gain.gain.value = 0.5;
    gain.connect(context.destination);
    for (const [frequency, seconds] of steps) {
      if (frequency > 0) {
        const tone = context.createOscillator();
        tone.type = "square";
        tone.frequency.value = frequency;
        tone.connect(gain);
        tone.start(at);
        tone.stop(at + seconds);
      }
      at += seconds;
    }
  }
}
