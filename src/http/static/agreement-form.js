// Agreement form, progressive enhancement only: without JavaScript the "Zeile hinzufügen" buttons
// submit the form and the server renders one more empty row. With it, rows are added and removed
// in place, and the AQB-only part is hidden for SGB II agreements.
(function () {
  'use strict';
  var form = document.querySelector('form.agreement-form');
  if (!form) return;

  var esc = function (s) { return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'); };
  var dash = function (s) { return s.replace(/[^a-zA-Z0-9]+/g, '-').replace(/-+$/, ''); };

  // Renames every name/id/for/aria/data attribute from one row prefix to another, e.g.
  // measures[1] → measures[2] and f-measures-1-… → f-measures-2-….
  function rename(root, from, to) {
    var bracket = new RegExp(esc(from) + '(?=\\[|$)', 'g');
    var dashed = new RegExp(esc(dash(from)) + '(?=-|$)', 'g');
    var els = [root].concat(Array.prototype.slice.call(root.querySelectorAll('*')));
    els.forEach(function (el) {
      ['name', 'data-prefix', 'value'].forEach(function (a) {
        var v = el.getAttribute(a);
        if (v && (a !== 'value' || el.tagName === 'BUTTON')) el.setAttribute(a, v.replace(bracket, to));
      });
      ['id', 'for', 'aria-describedby', 'data-add'].forEach(function (a) {
        var v = el.getAttribute(a);
        if (v) el.setAttribute(a, v.replace(dashed, dash(to)));
      });
    });
  }

  function clear(row) {
    row.querySelectorAll('input[type=text], input:not([type])').forEach(function (i) { i.value = ''; i.removeAttribute('aria-invalid'); });
    row.querySelectorAll('select').forEach(function (s) { s.selectedIndex = 0; s.removeAttribute('aria-invalid'); });
    row.querySelectorAll('p.error').forEach(function (p) { p.remove(); });
    row.querySelectorAll('.field.invalid').forEach(function (f) { f.classList.remove('invalid'); });
    row.querySelectorAll('[aria-describedby]').forEach(function (el) { el.removeAttribute('aria-describedby'); });
  }

  function nextIndex(group) {
    var max = -1;
    group.querySelectorAll(':scope > .row').forEach(function (r) { max = Math.max(max, Number(r.getAttribute('data-index'))); });
    return max + 1;
  }

  function addRow(group) {
    var rows = group.querySelectorAll(':scope > .row');
    var last = rows[rows.length - 1];
    if (!last) return;
    var prefix = group.getAttribute('data-prefix');
    var oldIndex = last.getAttribute('data-index');
    var index = nextIndex(group);
    var copy = last.cloneNode(true);
    copy.setAttribute('data-index', String(index));
    copy.querySelectorAll('.remove-row').forEach(function (b) { b.remove(); });
    rename(copy, prefix + '[' + oldIndex + ']', prefix + '[' + index + ']');
    // A copied measure keeps one (empty) project row.
    copy.querySelectorAll('.rows').forEach(function (inner) {
      var innerRows = inner.querySelectorAll(':scope > .row');
      for (var i = 1; i < innerRows.length; i++) innerRows[i].remove();
    });
    // Numbers in this row's own labels (not those of nested rows) follow the new position.
    copy.querySelectorAll('legend, label').forEach(function (l) {
      if (l.closest('.rows')) return;
      l.textContent = l.textContent.replace(/\d+$/, String(index + 1));
    });
    clear(copy);
    last.after(copy);
    decorate(copy, group);
    copy.querySelectorAll('.rows').forEach(function (inner) {
      inner.querySelectorAll(':scope > .row').forEach(function (r) { decorate(r, inner); });
    });
    var first = copy.querySelector('input, select');
    if (first) first.focus();
  }

  function decorate(row, group) {
    if (row.querySelector(':scope > .remove-row')) return;
    var b = document.createElement('button');
    b.type = 'button';
    b.className = 'remove-row';
    b.textContent = 'Entfernen';
    b.addEventListener('click', function () {
      var rows = group.querySelectorAll(':scope > .row');
      if (rows.length > 1) row.remove();
      else clear(row);
    });
    row.appendChild(b);
  }

  form.querySelectorAll('.rows').forEach(function (group) {
    group.querySelectorAll(':scope > .row').forEach(function (row) { decorate(row, group); });
  });

  form.addEventListener('click', function (ev) {
    var btn = ev.target.closest('button.add-row');
    if (!btn) return;
    var group = document.getElementById(btn.getAttribute('data-add'));
    if (!group) return;
    ev.preventDefault();
    addRow(group);
  });

  // SGB II agreements have no amount, measures or steering.
  var type = form.querySelector('select[name=type]');
  var aqb = document.getElementById('aqb-teil');
  function toggle() { if (type && aqb) aqb.hidden = type.value === 'sgb2'; }
  if (type) type.addEventListener('change', toggle);
  toggle();

  var summary = document.getElementById('fehler');
  if (summary) summary.focus();
})();
