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
