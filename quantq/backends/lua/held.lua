-- Which claims are still held: ARGV[4..] id, token pairs; reply 1|0 per claim.
local out = {}
for i = 4, #ARGV, 2 do
  if held(ARGV[i], ARGV[i + 1]) then out[#out + 1] = 1 else out[#out + 1] = 0 end
end
return out
