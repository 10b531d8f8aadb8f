// FilePond (Panel's FileDropper) starts a requestAnimationFrame loop at 60 fps as soon as it loads and
// keeps it for the page's whole life, drop zone or not. In a software-rendered browser that is 5-7% of
// a CPU core, taken from a training job on the same machine. This parks the loop while no drop zone
// exists and wakes it when one is created. If FilePond changes, nothing breaks: the loop just runs.
(() => {
  const request = window.requestAnimationFrame.bind(window);
  let painter = null;
  let parked = false;
  let zones = 0;
  const isPainter = (callback) => {
    if (painter === null && String(callback).includes("readers.forEach")) painter = callback;
    return callback === painter;
  };
  window.requestAnimationFrame = (callback) => {
    if (zones === 0 && isPainter(callback)) {
      parked = true;
      return 0;
    }
    return request(callback);
  };
  const wake = () => {
    if (parked) {
      parked = false;
      request(painter);
    }
  };
  const pond = window.FilePond;
  if (!pond || typeof pond.create !== "function") return;
  const create = pond.create;
  pond.create = (...args) => {
    const instance = create(...args);
    zones += 1;
    wake();
    const destroy = instance.destroy;
    instance.destroy = (...rest) => {
      zones = Math.max(0, zones - 1);
      return destroy(...rest);
    };
    return instance;
  };
})();
