// "Alle auswählen" for the ministry's batch list. Without JavaScript each row is ticked by hand.
(function () {
  'use strict';
  var slot = document.querySelector('.select-all-slot');
  var rows = Array.prototype.slice.call(document.querySelectorAll('input.row-select'));
  if (!slot || rows.length === 0) return;
  var box = document.createElement('input');
  box.type = 'checkbox';
  box.id = 'select-all';
  var label = document.createElement('label');
  label.htmlFor = 'select-all';
  label.textContent = slot.getAttribute('data-label') || 'Alle auswählen';
  slot.appendChild(box);
  slot.appendChild(document.createTextNode(' '));
  slot.appendChild(label);
  var hidden = slot.nextElementSibling;
  if (hidden && hidden.classList.contains('visually-hidden')) hidden.remove();

  function sync() {
    var n = rows.filter(function (r) { return r.checked; }).length;
    box.checked = n === rows.length;
    box.indeterminate = n > 0 && n < rows.length;
  }
  box.addEventListener('change', function () {
    rows.forEach(function (r) { r.checked = box.checked; });
    sync();
  });
  rows.forEach(function (r) { r.addEventListener('change', sync); });
  sync();
})();

// Only the fields of the chosen way of signing (password, PIN, credential) are shown; without
// JavaScript all are visible and the server takes what the chosen way needs.
(function () {
  'use strict';
  var radios = Array.prototype.slice.call(document.querySelectorAll('input[name="backend"]'));
  var fields = Array.prototype.slice.call(document.querySelectorAll('[data-backend]'));
  if (radios.length < 2 || fields.length === 0) return;
  function show() {
    var chosen = radios.filter(function (r) { return r.checked; })[0];
    var value = chosen ? chosen.value : '';
    fields.forEach(function (f) {
      f.hidden = f.getAttribute('data-backend').split(' ').indexOf(value) < 0;
    });
  }
  radios.forEach(function (r) { r.addEventListener('change', show); });
  show();
})();
