// Signature pad for the signing page: draw with mouse, finger or pen (pointer events); the drawing
// goes as a PNG data URL into the hidden field "drawn". Without JavaScript the pad stays hidden and
// the form works with the typed name or an uploaded image. Keyboard users simply tab past the pad.
(function () {
  'use strict';
  var wrap = document.querySelector('[data-sigpad]');
  var input = document.getElementById('f-drawn');
  if (!wrap || !input) return;
  var canvas = wrap.querySelector('canvas.sigpad');
  var clear = wrap.querySelector('.sigpad-clear');
  var state = wrap.querySelector('.sigpad-state');
  var upload = document.getElementById('f-image');
  if (!canvas || !canvas.getContext) return;
  var ctx = canvas.getContext('2d');
  wrap.hidden = false;

  function reset() {
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.strokeStyle = '#0a2a66';
    ctx.lineWidth = 3;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
  }
  reset();

  var drawn = false;
  var drawing = false;
  var last = null;

  // A drawing kept from a previous submission (form re-rendered with an error) is shown again.
  if (/^data:image\/png;base64,/.test(input.value)) {
    var img = new Image();
    img.onload = function () {
      ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
      drawn = true;
      say('Ihre Zeichnung von vorhin ist übernommen.');
    };
    img.src = input.value;
  }

  function say(text) {
    if (state) state.textContent = text;
  }

  function point(e) {
    var r = canvas.getBoundingClientRect();
    return { x: ((e.clientX - r.left) * canvas.width) / r.width, y: ((e.clientY - r.top) * canvas.height) / r.height };
  }

  canvas.addEventListener('pointerdown', function (e) {
    if (e.button !== undefined && e.button > 0) return;
    e.preventDefault();
    drawing = true;
    last = point(e);
    if (upload && upload.value) {
      upload.value = '';
      say('Das ausgewählte Bild wurde verworfen; die Zeichnung wird verwendet.');
    }
    try {
      canvas.setPointerCapture(e.pointerId);
    } catch (_) {
      /* older browsers */
    }
    ctx.beginPath();
    ctx.arc(last.x, last.y, ctx.lineWidth / 2, 0, Math.PI * 2);
    ctx.fillStyle = ctx.strokeStyle;
    ctx.fill();
  });
  canvas.addEventListener('pointermove', function (e) {
    if (!drawing) return;
    e.preventDefault();
    var events = e.getCoalescedEvents ? e.getCoalescedEvents() : [e];
    if (!events.length) events = [e];
    for (var i = 0; i < events.length; i++) {
      var p = point(events[i]);
      ctx.beginPath();
      ctx.moveTo(last.x, last.y);
      ctx.lineTo(p.x, p.y);
      ctx.stroke();
      last = p;
    }
    drawn = true;
  });
  function end(e) {
    if (!drawing) return;
    drawing = false;
    try {
      canvas.releasePointerCapture(e.pointerId);
    } catch (_) {
      /* not captured */
    }
    drawn = true;
    input.value = canvas.toDataURL('image/png');
    say('Zeichnung übernommen.');
  }
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);
  canvas.addEventListener('pointerleave', function (e) {
    if (drawing && e.pointerType === 'mouse') end(e);
  });

  if (clear) {
    clear.addEventListener('click', function () {
      reset();
      drawn = false;
      input.value = '';
      say('Zeichnung gelöscht.');
    });
  }
  // Drawing and uploading exclude each other: choosing a file discards the drawing.
  if (upload) {
    upload.addEventListener('change', function () {
      if (upload.files && upload.files.length && drawn) {
        reset();
        drawn = false;
        input.value = '';
        say('Zeichnung verworfen, das hochgeladene Bild wird verwendet.');
      }
    });
  }
})();
