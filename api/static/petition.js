// 网上信访: submit, track with the query code and a one-time code, rate and request review.
// Plain JavaScript, no build step; talks to /v1/petitioner/* of the same server.
"use strict";

const $ = (id) => document.getElementById(id);
let session = null; // the petitioner's session token, in memory only
let offices = [];

function show(target, html, isError) {
  const box = $(target);
  box.innerHTML = "";
  const p = document.createElement("div");
  if (isError) p.setAttribute("role", "alert");
  p.className = isError ? "error" : "result";
  if (typeof html === "string") p.textContent = html; else p.appendChild(html);
  box.appendChild(p);
}

async function call(method, path, body) {
  const headers = { "Content-Type": "application/json" };
  if (session) headers.Authorization = "Bearer " + session;
  const r = await fetch(path, { method, headers, body: body ? JSON.stringify(body) : undefined });
  const data = await r.json().catch(() => ({}));
  if (!r.ok) {
    const err = new Error(data.detail || ("请求失败（" + r.status + "）"));
    err.code = data.code;
    err.status = r.status;
    throw err;
  }
  return data;
}

function fillTownships() {
  const office = offices.find((o) => o.id === $("office").value);
  const select = $("township");
  select.innerHTML = '<option value="">（不选）</option>';
  for (const t of (office ? office.townships : [])) {
    const opt = document.createElement("option");
    opt.value = t; opt.textContent = t;
    select.appendChild(opt);
  }
}

async function loadOffices() {
  const data = await call("GET", "/v1/petitioner/offices");
  offices = data.offices;
  for (const o of offices) {
    const opt = document.createElement("option");
    opt.value = o.id; opt.textContent = o.name + "（" + o.place + "）";
    $("office").appendChild(opt);
  }
  for (const c of data.classifications) {
    const opt = document.createElement("option");
    opt.value = c.value; opt.textContent = c.label;
    $("classification").appendChild(opt);
  }
  fillTownships();
}

function row(dl, label, value) {
  if (value === null || value === undefined || value === "") return;
  const dt = document.createElement("dt"); dt.textContent = label;
  const dd = document.createElement("dd"); dd.textContent = value;
  dl.append(dt, dd);
}

function renderCase(c) {
  const wrap = document.createElement("div");
  const dl = document.createElement("dl");
  dl.className = "case";
  row(dl, "事项编号", c.case_id);
  row(dl, "办理阶段", c.stage_label);
  row(dl, "办理状态", c.status_label);
  row(dl, "登记机关", c.registered_by);
  row(dl, "办理单位", c.handling_unit);
  row(dl, "提出日期", c.received_on);
  row(dl, "登记日期", c.registered_on);
  row(dl, "受理日期", c.accepted_on);
  row(dl, "答复日期", c.replied_on);
  row(dl, "送达日期", c.delivered_on);
  row(dl, "办结日期", c.closed_on);
  row(dl, "满意度评价", c.rating_label);
  wrap.appendChild(dl);
  for (const r of (c.replies || [])) {
    const art = document.createElement("article");
    art.className = "reply";
    const h = document.createElement("h3");
    h.textContent = r.kind + "：" + r.outcome_label;
    const p = document.createElement("p"); p.textContent = r.decision;
    const b = document.createElement("p"); b.className = "basis"; b.textContent = "依据：" + r.legal_basis;
    art.append(h, p, b);
    wrap.appendChild(art);
  }
  $("rating-box").hidden = !c.can_rate;
  $("review-form").hidden = !c.can_request_review;
  $("evaluate-hint").textContent = (c.can_rate || c.can_request_review)
    ? "书面答复已送达，您可以评价，也可以申请复查。"
    : "当前没有需要您评价或申请复查的答复。";
  return wrap;
}

$("office").addEventListener("change", fillTownships);

$("submit-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const f = e.target;
  if (!f.reportValidity()) return;
  const body = {
    office: $("office").value,
    township: $("township").value || null,
    classification: $("classification").value,
    petitioner: { name: $("name").value, phone: $("phone").value },
    request: $("request").value, facts: $("facts").value, reasons: $("reasons").value,
  };
  if ($("id_number").value) body.petitioner.id_number = $("id_number").value;
  try {
    const r = await call("POST", "/v1/petitioner/petitions", body);
    const box = document.createElement("div");
    const p1 = document.createElement("p");
    p1.innerHTML = "已提交。事项编号：<strong id=\"case-id\"></strong>";
    p1.querySelector("strong").textContent = r.case_id;
    const p2 = document.createElement("p");
    p2.innerHTML = "查询码：<strong id=\"query-code\" class=\"code\"></strong>";
    p2.querySelector("strong").textContent = r.query_code;
    const p3 = document.createElement("p");
    p3.textContent = "请妥善保存查询码：它只显示这一次，凭它和手机验证码查询办理进度。";
    box.append(p1, p2, p3);
    show("submit-result", box, false);
    $("query_code").value = r.query_code;
    f.reset(); fillTownships();
  } catch (err) {
    show("submit-result", err.message, true);
  }
});

$("code-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!e.target.reportValidity()) return;
  try {
    const r = await call("POST", "/v1/petitioner/codes", { query_code: $("query_code").value });
    show("track-result", r.detail, false);
    $("otp").focus();
  } catch (err) {
    show("track-result", err.message, true);
  }
});

async function refresh() {
  const c = await call("GET", "/v1/petitioner/case");
  show("track-result", renderCase(c), false);
  return c;
}

$("verify-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!e.target.reportValidity()) return;
  try {
    session = null;
    const s = await call("POST", "/v1/petitioner/sessions",
      { query_code: $("query_code").value, otp: $("otp").value });
    session = s.session;
    await refresh();
  } catch (err) {
    show("track-result", err.message, true);
  }
});

for (const button of document.querySelectorAll("[data-rating]")) {
  button.addEventListener("click", async () => {
    try {
      const c = await call("POST", "/v1/petitioner/case/rating", { rating: button.dataset.rating });
      show("track-result", renderCase(c), false);
      show("evaluate-result", "评价已提交：" + c.rating_label, false);
    } catch (err) {
      show("evaluate-result", err.message, true);
    }
  });
}

$("review-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  if (!e.target.reportValidity()) return;
  try {
    const c = await call("POST", "/v1/petitioner/case/review", { reasons: $("review-reasons").value });
    show("track-result", renderCase(c), false);
    show("evaluate-result", "复查申请已提交，当前阶段：" + c.stage_label, false);
  } catch (err) {
    show("evaluate-result", err.message, true);
  }
});

loadOffices().catch((err) => show("submit-result", "无法载入信访工作机构：" + err.message, true));
