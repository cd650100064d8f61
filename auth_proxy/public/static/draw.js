// The draw-a-digit page (/): a digit drawn on the pad, or a photo, is sent to this origin's
// POST /predictions/mnist with the token typed here; the answer is shown as the digit and its ten
// probabilities, a refusal as the API's own status and message.
'use strict';

const TOKEN_KEY = 'mnist-service-token'; // sessionStorage: this tab only, gone when it closes

const pad = document.getElementById('pad');
const ink = pad.getContext('2d');
const tokenField = document.getElementById('token');
const readButton = document.getElementById('read');
const photoInput = document.getElementById('photo');
const result = document.getElementById('result');
const answerShown = document.getElementById('answer');
const summary = document.getElementById('summary');
const digitShown = document.getElementById('digit');
const refusal = document.getElementById('refusal');
const bars = document.getElementById('bars');
const sentFigure = document.getElementById('sent-figure');
const sent = document.getElementById('sent');

// Drawing: white on black, as MNIST's digits are, in a stroke about as thick relative to the pad as
// theirs. The pad keeps its 280 x 280 pixels whatever size the page shows it at.

let stroke = null; // the pointer drawing now and where it last was, or null between strokes

function clearPad() {
  ink.fillStyle = 'black'; // opaque: the PNG sent has no transparency to guess about
  ink.fillRect(0, 0, pad.width, pad.height);
}

function pointOf(event) {
  const box = pad.getBoundingClientRect();
  return {
    x: ((event.clientX - box.left) * pad.width) / box.width,
    y: ((event.clientY - box.top) * pad.height) / box.height,
  };
}

function startStroke(event) {
  if (stroke || event.button !== 0) return; // one pointer at a time, primary button only
  pad.setPointerCapture(event.pointerId); // the stroke goes on if the pointer leaves the pad
  stroke = { id: event.pointerId, ...pointOf(event) };
  ink.beginPath(); // a dot, so a tap leaves a mark too
  ink.arc(stroke.x, stroke.y, ink.lineWidth / 2, 0, 2 * Math.PI);
  ink.fillStyle = 'white';
  ink.fill();
}

function continueStroke(event) {
  if (!stroke || event.pointerId !== stroke.id) return;
  // A pen or finger moves faster than events are dispatched: the coalesced ones keep the line smooth.
  for (const step of event.getCoalescedEvents?.() ?? [event]) {
    const to = pointOf(step);
    ink.beginPath();
    ink.moveTo(stroke.x, stroke.y);
    ink.lineTo(to.x, to.y);
    ink.stroke();
    Object.assign(stroke, to);
  }
}

function endStroke(event) {
  if (stroke && event.pointerId === stroke.id) stroke = null;
}

// Sending: the picture's bytes as the body, as they are. fetch sends a Blob's type (image/png,
// image/jpeg...) as the Content-Type; the service tells pictures apart by their bytes anyway.

async function send(picture) {
  showSending(picture);
  try {
    const response = await fetch('/predictions/mnist', {
      method: 'POST',
      headers: { Authorization: `Bearer ${tokenField.value.trim()}` },
      body: picture,
    });
    const answer = await response.json().catch(() => ({}));
    if (response.ok) showReading(answer);
    else showRefusal(response.status, answer);
  } catch (error) {
    showRefusal(null, { message: `the service did not answer (${error.message})` });
  } finally {
    readButton.disabled = false;
    result.removeAttribute('aria-busy');
  }
}

function readPad() {
  pad.toBlob((png) => send(png), 'image/png');
}

function readPhoto() {
  const [photo] = photoInput.files;
  photoInput.value = ''; // so that picking the same photo again reads it again
  if (photo) send(photo);
}

// Showing: the digit large, one bar per digit, or the refusal exactly as the API worded it.

function percent(probability) {
  return `${(probability * 100).toFixed(1)} %`;
}

function showSending(picture) {
  readButton.disabled = true;
  result.setAttribute('aria-busy', 'true');
  result.dataset.state = 'reading';
  summary.textContent = 'Reading…';
  URL.revokeObjectURL(sent.src);
  sent.src = URL.createObjectURL(picture);
  sentFigure.hidden = false;
}

function showReading({ digit, probabilities }) {
  result.dataset.state = 'read';
  summary.textContent = `Read as ${digit}, with probability ${percent(probabilities[digit])}.`;
  digitShown.textContent = digit;
  digitShown.hidden = false;
  refusal.hidden = true;
  bars.replaceChildren(...probabilities.map((probability, each) => bar(each, probability, each === digit)));
  bars.hidden = false;
  answerShown.scrollIntoView({ block: 'nearest' }); // on a phone the answer is below the pad
}

function bar(digit, probability, isWinner) {
  const row = document.createElement('li');
  row.dataset.digit = digit;
  row.dataset.probability = probability;
  row.classList.toggle('winner', isWinner);
  const label = document.createElement('span');
  label.className = 'bar-digit';
  label.textContent = digit;
  const track = document.createElement('span');
  track.className = 'bar-track';
  track.setAttribute('aria-hidden', 'true'); // the value beside it says the same in words
  const fill = document.createElement('span');
  fill.className = 'bar-fill';
  fill.style.width = `${probability * 100}%`;
  track.append(fill);
  const value = document.createElement('span');
  value.className = 'bar-value';
  value.textContent = percent(probability);
  row.append(label, track, value);
  return row;
}

function showRefusal(status, { type, message }) {
  result.dataset.state = 'refused';
  summary.textContent = 'Not read.';
  digitShown.hidden = true;
  bars.hidden = true;
  document.getElementById('refusal-status').textContent = status ? `${status} ${type ?? ''}` : 'No answer';
  document.getElementById('refusal-message').textContent = message ?? 'the answer said nothing more';
  refusal.hidden = false;
  answerShown.scrollIntoView({ block: 'nearest' });
  if (status === 401) {
    summary.textContent = 'Not read: the service token was not accepted. Type it in the token field.';
    tokenField.focus();
    tokenField.select();
  }
}

clearPad();
Object.assign(ink, { lineWidth: 22, lineCap: 'round', lineJoin: 'round', strokeStyle: 'white' });
pad.addEventListener('pointerdown', startStroke);
pad.addEventListener('pointermove', continueStroke);
pad.addEventListener('pointerup', endStroke);
pad.addEventListener('pointercancel', endStroke);
document.getElementById('clear').addEventListener('click', clearPad);
readButton.addEventListener('click', readPad);
photoInput.addEventListener('change', readPhoto);
tokenField.value = sessionStorage.getItem(TOKEN_KEY) ?? '';
tokenField.addEventListener('input', () => sessionStorage.setItem(TOKEN_KEY, tokenField.value));
